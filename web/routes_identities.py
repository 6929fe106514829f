"""HTTP endpoints of identities: sign-in, tokens, users and parties."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from identities import service
from identities.schemas import (
    LoginRequest,
    PartyCreate,
    PartyOut,
    PartyPage,
    PasswordChange,
    TokenCreate,
    TokenIssued,
    TokenOut,
    UserCreate,
    UserOut,
    UserPage,
    UserUpdate,
)
from web.api import Api, QueryParam, json_response, parse_body, path_int, query_int
from web.auth import bearer_token, client_address, current_actor
from web.runtime import Runtime

api = Api()

PAGING = (
    QueryParam("offset", {"type": "integer", "minimum": 0}, "rows to skip"),
    QueryParam("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "rows to return"),
)


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


def paging(request: Request) -> tuple[int, int]:
    offset = query_int(request, "offset", 0, minimum=0, maximum=10**9)
    return offset, query_int(request, "limit", 50, minimum=1, maximum=200)




# --- sign-in ------------------------------------------------------------------------------


@api.operation("POST", "/auth/login", "Sign in with a password", request=LoginRequest, response=TokenIssued,
               status=201, authenticated=False, tag="auth", errors=(401,))
async def login(request: Request) -> Response:
    """Returns a session token to send as 'Authorization: Bearer <token>'."""
    data = await parse_body(request, LoginRequest)
    rt = runtime(request)
    async with rt.database.transaction() as session:
        token, raw = await service.sign_in(
            session, data.username, data.password,
            source_address=client_address(request), hours=rt.settings.session_token_hours,
        )
    issued = TokenIssued(id=token.id, token=raw, kind=token.kind, name=token.name, expires_at=token.expires_at)
    return json_response(issued, 201)


@api.operation("POST", "/auth/logout", "Sign out (revoke the token used)", status=204, tag="auth")
async def logout(request: Request) -> Response:
    async with runtime(request).database.transaction() as session:
        actor = await current_actor(request, session)
        await service.sign_out(session, actor, bearer_token(request))
    return Response(status_code=204)


@api.operation("GET", "/auth/me", "The signed-in user", response=UserOut, tag="auth")
async def me(request: Request) -> Response:
    async with runtime(request).database.transaction() as session:
        actor = await current_actor(request, session)
        user = await service.get_user(session, actor, actor.user_id)
        return json_response(UserOut.model_validate(user))


@api.operation("POST", "/auth/password", "Change your password", request=PasswordChange, status=204, tag="auth")
async def change_password(request: Request) -> Response:
    data = await parse_body(request, PasswordChange)
    async with runtime(request).database.transaction() as session:
        actor = await current_actor(request, session)
        await service.change_password(session, actor, data)
    return Response(status_code=204)


@api.operation("GET", "/auth/tokens", "Your tokens (without secrets)", response=TokenOut,
               response_is_list=True, tag="auth")
async def list_tokens(request: Request) -> Response:
    async with runtime(request).database.transaction() as session:
        actor = await current_actor(request, session)
        tokens = await service.list_tokens(session, actor)
        return json_response([TokenOut.model_validate(t) for t in tokens])


@api.operation("POST", "/auth/tokens", "Create an API token", request=TokenCreate, response=TokenIssued,
               status=201, tag="auth")
async def create_token(request: Request) -> Response:
    """The secret is in this response only; the platform keeps its hash."""
    data = await parse_body(request, TokenCreate)
    async with runtime(request).database.transaction() as session:
        actor = await current_actor(request, session)
        token, raw = await service.issue_api_token(session, actor, data)
    return json_response(TokenIssued(id=token.id, token=raw, kind=token.kind, name=token.name,
                                     expires_at=token.expires_at), 201)


@api.operation("DELETE", "/auth/tokens/{token_id}", "Revoke a token", status=204, tag="auth", errors=(404,))
async def revoke_token(request: Request) -> Response:
    token_id = path_int(request, "token_id")
    async with runtime(request).database.transaction() as session:
        actor = await current_actor(request, session)
        await service.revoke_token(session, actor, token_id)
    return Response(status_code=204)


# --- users --------------------------------------------------------------------------------


@api.operation("GET", "/users", "List users", response=UserPage, tag="users", query=PAGING)
async def list_users(request: Request) -> Response:
    offset, limit = paging(request)
    async with runtime(request).database.transaction() as session:
        actor = await current_actor(request, session)
        users, total = await service.list_users(session, actor, offset=offset, limit=limit)
        items = [UserOut.model_validate(user) for user in users]
        return json_response(UserPage(items=items, total=total, offset=offset, limit=limit))


@api.operation("POST", "/users", "Create a user", request=UserCreate, response=UserOut, status=201,
               tag="users", errors=(409,))
async def create_user(request: Request) -> Response:
    data = await parse_body(request, UserCreate)
    async with runtime(request).database.transaction() as session:
        actor = await current_actor(request, session)
        user = await service.create_user(session, actor, data)
    return json_response(UserOut.model_validate(user), 201)


@api.operation("GET", "/users/{user_id}", "Read a user", response=UserOut, tag="users", errors=(404,))
async def get_user(request: Request) -> Response:
    user_id = path_int(request, "user_id")
    async with runtime(request).database.transaction() as session:
        actor = await current_actor(request, session)
        return json_response(UserOut.model_validate(await service.get_user(session, actor, user_id)))


@api.operation("PATCH", "/users/{user_id}", "Change a user's roles, party, jurisdiction or status",
               request=UserUpdate, response=UserOut, tag="users", errors=(404,))
async def update_user(request: Request) -> Response:
    user_id = path_int(request, "user_id")
    data = await parse_body(request, UserUpdate)
    async with runtime(request).database.transaction() as session:
        actor = await current_actor(request, session)
        user = await service.update_user(session, actor, user_id, data)
    return json_response(UserOut.model_validate(user))


# --- parties ------------------------------------------------------------------------------


@api.operation("GET", "/parties", "List parties", response=PartyPage, tag="parties", query=PAGING)
async def list_parties(request: Request) -> Response:
    offset, limit = paging(request)
    async with runtime(request).database.transaction() as session:
        actor = await current_actor(request, session)
        parties, total = await service.list_parties(session, actor, offset=offset, limit=limit)
        items = [PartyOut.model_validate(party) for party in parties]
        return json_response(PartyPage(items=items, total=total, offset=offset, limit=limit))


@api.operation("POST", "/parties", "Register a party by its unified social credit code", request=PartyCreate,
               response=PartyOut, status=201, tag="parties", errors=(409,))
async def register_party(request: Request) -> Response:
    data = await parse_body(request, PartyCreate)
    async with runtime(request).database.transaction() as session:
        actor = await current_actor(request, session)
        party = await service.register_party(session, actor, data)
    return json_response(PartyOut.model_validate(party), 201)


@api.operation("GET", "/parties/{party_id}", "Read a party", response=PartyOut, tag="parties", errors=(404,))
async def get_party(request: Request) -> Response:
    party_id = path_int(request, "party_id")
    async with runtime(request).database.transaction() as session:
        actor = await current_actor(request, session)
        return json_response(PartyOut.model_validate(await service.get_party(session, actor, party_id)))
