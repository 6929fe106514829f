"""The evaluation report (评标报告) as a .docx, built from :class:`ReportContent` alone.

Every member signs the report with a detached CMS signature over its exact bytes, so the
same content must always give the same bytes: a member who rebuilds the report to check it,
or a session that builds it again after a restart, gets the document the others signed.
python-docx stamps the save time into the core properties and the zip entries; both are
set from ``content.generated_at`` here, and the zip is rewritten with fixed entry dates,
attributes and order.

Contents follow DOMAIN.md "Evaluation": notice media, opening date and place, bidders,
committee (with recusals and replacements), method and criteria, opening record with price
corrections, preliminary review with invalid bids and reasons, abnormally low prices,
detailed scores, result and ranked candidates, clarifications, dissent (attached with its
reasons), appendices with each member's review marks and scores, and a signature page.
Headings are Chinese with English beside them; times are shown in Asia/Shanghai.

:func:`report_text`, :func:`signature_page` and :func:`attached_dissent` read a built report
back (for tests and for the signed bundle's checks).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import docx
from docx.document import Document
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_BREAK
from docx.oxml.ns import qn
from docx.shared import Mm
from docx.table import Table

from core.clock import ensure_utc, to_shanghai
from evaluation.report_content import (
    ReportBidder,
    ReportContent,
    ReportDissent,
    ReportMember,
)

DISSENT_STYLE = "Dissent"
"""Paragraph style of the attached dissent: lets :func:`attached_dissent` find it again."""
SIGNATURE_HEADER = ("席位 Seat", "姓名 Name", "职务 Role", "签名文件 Signature file")
RECUSED_NOTE_PREFIX = "recused"
"""A member whose note begins with this left the committee: listed, but does not sign."""
NONE = "无 None"
_CENT = Decimal("0.01")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_EARLIEST_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def build_report(content: ReportContent) -> bytes:
    """The report .docx; the same ``content`` always gives the same bytes."""
    _check_consistent(content)
    document = docx.Document()
    _prepare(document, content)
    for section in (_general, _notice_and_opening, _bidder_list, _committee, _method, _opening_record,
                    _preliminary_review, _abnormally_low, _detailed_scores, _result, _clarifications,
                    _dissent, _review_marks_appendix, _scores_appendix, _signature_page):
        section(document, content)
    buffer = io.BytesIO()
    document.save(buffer)
    return _fixed_zip(buffer.getvalue(), content.generated_at)


def signing_members(content: ReportContent) -> tuple[ReportMember, ...]:
    """The members who sign: everyone on the committee but those who recused."""
    return tuple(sorted((m for m in content.members if not _recused(m)), key=lambda m: m.seat))


def dissent_text(dissents: Iterable[ReportDissent]) -> str:
    """The dissent as plain text: a header line and the reasons, a blank line after each."""
    return "".join(f"{_dissent_header(d)}\n{_clean(d.text)}\n\n" for d in dissents)


# --- reading a built report back ------------------------------------------------------------


def report_text(report: bytes) -> str:
    """All paragraph and table text of a report, in document order (table cells joined by " | ")."""
    lines: list[str] = []
    for block in docx.Document(io.BytesIO(report)).iter_inner_content():
        if isinstance(block, Table):
            lines.extend(" | ".join(cell.text for cell in row.cells) for row in block.rows)
        else:
            lines.append(block.text)
    return "\n".join(lines)


def signature_page(report: bytes) -> tuple[tuple[int, str], ...]:
    """``(seat, name)`` of every member the report's signature page expects to sign."""
    for table in docx.Document(io.BytesIO(report)).tables:
        rows = [[cell.text for cell in row.cells] for row in table.rows]
        if rows and tuple(rows[0]) == SIGNATURE_HEADER:
            return tuple((int(row[0]), row[1]) for row in rows[1:])
    raise ValueError("the document has no signature page")


def attached_dissent(report: bytes) -> str:
    """The dissent attached to a report, in the form of :func:`dissent_text`."""
    paragraphs = [p.text for p in docx.Document(io.BytesIO(report)).paragraphs
                  if p.style is not None and p.style.name == DISSENT_STYLE]
    return "".join(f"{header}\n{text}\n\n" for header, text in zip(paragraphs[::2], paragraphs[1::2], strict=True))


# --- sections ---------------------------------------------------------------------------------


def _general(document: Document, content: ReportContent) -> None:
    document.add_heading("评标报告 Evaluation report", 0)
    document.add_paragraph(f"{content.project_code} {content.project_title} — {content.lot_code} {content.lot_title}")
    _pairs(document, [
        ("项目编号 Project code", content.project_code),
        ("项目名称 Project", content.project_title),
        ("标段 Lot", f"{content.lot_code} {content.lot_title}"),
        ("行业 Segment", content.segment),
        ("采购/招标方式 Procedure", content.procedure),
        ("招标人 Tenderer", content.tenderer),
        ("招标代理机构 Agency", content.agency or NONE),
        ("评标会话 Evaluation session", str(content.session_id)),
        ("报告生成时间 Generated", _time(content.generated_at)),
    ])
    document.add_paragraph("本报告所列时间均为北京时间。All times are Beijing time (Asia/Shanghai, UTC+8).")


def _notice_and_opening(document: Document, content: ReportContent) -> None:
    document.add_heading("一、招标公告发布媒介及开标 Notice media and opening", 1)
    document.add_paragraph("公告发布媒介 Notice media:")
    _items(document, content.notice_media)
    document.add_paragraph(f"开标时间 Opening time: {_time(content.opening_at)}")
    document.add_paragraph(f"开标地点 Opening place: {_clean(content.opening_place)}")


def _bidder_list(document: Document, content: ReportContent) -> None:
    document.add_heading("二、投标人名单 Bidders", 1)
    _table(document, ("投标编号 Bid", "投标人 Bidder", "统一社会信用代码 USCC"),
           [(str(b.bid_id), b.name, b.uscc) for b in content.bidders])


def _committee(document: Document, content: ReportContent) -> None:
    document.add_heading("三、评标委员会 Evaluation committee", 1)
    _table(document, ("席位 Seat", "姓名 Name", "专家编号 Expert code", "专业 Specialty", "评标地点 Venue",
                      "职务 Role", "备注 Note"),
           [(str(m.seat), m.name, m.expert_code, m.specialty, m.venue or "—", _role(m), m.note or "")
            for m in sorted(content.members, key=lambda m: m.seat)])
    document.add_heading("成员回避与更换 Recusals and replacements", 2)
    _items(document, [f"第{m.seat}席 Seat {m.seat} {m.name}: {m.note}" for m in content.members if m.note])


def _method(document: Document, content: ReportContent) -> None:
    document.add_heading("四、评标方法和标准 Evaluation method and criteria", 1)
    document.add_paragraph(f"评标方法 Method: {_clean(content.method_title)} ({content.method_code})")
    document.add_heading("方法参数 Method parameters", 2)
    _table(document, ("参数 Parameter", "取值 Value"),
           [(name, _parameter(value)) for name, value in sorted(content.parameters.items())])
    document.add_heading("初步评审标准 Preliminary review criteria", 2)
    _items(document, content.review_criteria, numbered=True)
    document.add_heading("评分因素 Scoring factors", 2)
    _table(document, ("评分因素 Factor", "分值 Points"),
           [(factor, _score(points)) for factor, points in content.factors.items()])


def _opening_record(document: Document, content: ReportContent) -> None:
    document.add_heading("五、开标记录及价格修正 Opening record and price corrections", 1)
    _table(document, ("投标人 Bidder", "开标报价 Opened price (CNY)", "修正后报价 Corrected price (CNY)"),
           [(b.name, _money(b.opened_price), _money(b.corrected_price) if b.corrections else "—")
            for b in content.bidders])
    document.add_heading("价格修正 Price corrections", 2)
    _items(document, [f"{b.name}: {correction}" for b in content.bidders for correction in b.corrections])


def _preliminary_review(document: Document, content: ReportContent) -> None:
    document.add_heading("六、初步评审 Preliminary review", 1)
    _table(document, ("投标人 Bidder", "结论 Outcome", "理由 Reasons"),
           [(b.name, _review_outcome(b.review_passed), "; ".join(b.rejection_reasons)) for b in content.bidders])
    document.add_heading("无效投标及理由 Invalid bids and reasons", 2)
    _items(document, [f"{b.name} ({b.uscc}): {'; '.join(b.rejection_reasons) or '—'}"
                      for b in content.bidders if b.review_passed is False])


def _abnormally_low(document: Document, content: ReportContent) -> None:
    document.add_heading("七、异常低价 Abnormally low prices", 1)
    _items(document, [f"{b.name}: {_money(_evaluated_price(b))} — 报价明显低于其他投标报价，须书面说明 "
                      "the price is abnormally low; the bidder must explain it in writing"
                      for b in content.bidders if b.abnormally_low])


def _detailed_scores(document: Document, content: ReportContent) -> None:
    document.add_heading("八、详细评审得分 Detailed evaluation scores", 1)
    document.add_paragraph(f"评标基准价 Benchmark price: {_money(content.benchmark_price)}")
    factors = _factor_names(content.factors, (b.factor_scores for b in content.bidders))
    scored = [b for b in content.bidders if b.review_passed is not False]
    _table(document, ("投标人 Bidder", "评标价 Evaluated price", "价格分 Price score", *factors,
                      "总分 Total", "排名 Rank"),
           [(b.name, _money(_evaluated_price(b)), _score(b.price_score),
             *(_score(b.factor_scores.get(f)) for f in factors), _score(b.total_score),
             str(b.rank) if b.rank is not None else "—") for b in scored])


def _result(document: Document, content: ReportContent) -> None:
    document.add_heading("九、评标结果及推荐的中标候选人 Result and recommended candidates", 1)
    bidders = {b.bid_id: b for b in content.bidders}
    _items(document, [f"第{place}中标候选人 Candidate {place}: {bidders[bid].name} ({bidders[bid].uscc}), "
                      f"评标价 evaluated price {_money(_evaluated_price(bidders[bid]))}, "
                      f"总分 total score {_score(bidders[bid].total_score)}, 排名 rank {bidders[bid].rank or '—'}"
                      for place, bid in enumerate(content.candidates, start=1)])


def _clarifications(document: Document, content: ReportContent) -> None:
    document.add_heading("十、澄清 Clarifications", 1)
    if not content.clarifications:
        document.add_paragraph(NONE)
        return
    _table(document, ("投标人 Bidder", "问题 Question", "提出时间 Asked", "截止时间 Due", "答复 Answer",
                      "答复时间 Answered"),
           [(c.bidder, c.question, _time(c.asked_at), _time(c.due_at), c.answer or "未答复 Not answered",
             _time(c.answered_at)) for c in content.clarifications])


def _dissent(document: Document, content: ReportContent) -> None:
    document.add_heading("十一、不同意见 Dissent", 1)
    document.add_paragraph("持不同意见的成员在报告上签字并以书面说明理由；不签字又不说明理由的，视为同意评标结果。"
                           "Members who disagree sign the report and state their reasons in writing; a member who "
                           "neither signs nor states reasons is deemed to agree.")
    if not content.dissents:
        document.add_paragraph(NONE)
    for dissent in content.dissents:
        document.add_paragraph(_dissent_header(dissent), style=DISSENT_STYLE)
        document.add_paragraph(_clean(dissent.text), style=DISSENT_STYLE)


def _review_marks_appendix(document: Document, content: ReportContent) -> None:
    document.add_heading("附录一 成员初步评审记录 Appendix A: members' preliminary review marks", 1)
    names = _bidder_names(content)
    criteria = _factor_names(dict.fromkeys(content.review_criteria),
                             (marks for by_bid in content.review_marks.values() for marks in by_bid.values()))
    for member in _members_in(content, content.review_marks):
        document.add_heading(f"第{member.seat}席 Seat {member.seat} {member.name}", 2)
        marks = content.review_marks[member.seat]
        _table(document, ("投标人 Bidder", *criteria),
               [(names[bid], *(_mark(marks[bid].get(c)) for c in criteria)) for bid in sorted(marks)])


def _scores_appendix(document: Document, content: ReportContent) -> None:
    document.add_heading("附录二 成员评分记录 Appendix B: members' scores", 1)
    names = _bidder_names(content)
    factors = _factor_names(content.factors,
                            (points for by_bid in content.member_scores.values() for points in by_bid.values()))
    for member in _members_in(content, content.member_scores):
        document.add_heading(f"第{member.seat}席 Seat {member.seat} {member.name}", 2)
        scores = content.member_scores[member.seat]
        _table(document, ("投标人 Bidder", *factors, "合计 Sum"),
               [(names[bid], *(_score(scores[bid].get(f)) for f in factors), _score(sum(scores[bid].values(),
                                                                                      Decimal(0))))
                for bid in sorted(scores)])


def _signature_page(document: Document, content: ReportContent) -> None:
    document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
    document.add_heading("评标委员会成员签字 Signatures of the committee members", 1)
    document.add_paragraph(
        "下列成员以各自的数字证书签署本报告；签名为针对本文件的分离式 CMS 签名，随报告附于 signatures/ 目录。"
        "Each member below signs this report with their own certificate; the signatures are detached CMS "
        "signatures over this document, attached beside it in signatures/.")
    _table(document, SIGNATURE_HEADER, [(str(m.seat), m.name, _role(m), f"signatures/seat-{m.seat}.p7s")
                                        for m in signing_members(content)])


# --- building blocks --------------------------------------------------------------------------


def _prepare(document: Document, content: ReportContent) -> None:
    """A4 with narrow margins (the score tables are wide), fonts that show Chinese, the
    dissent style, and core properties fixed by the content."""
    page = document.sections[0]
    page.page_width, page.page_height = Mm(210), Mm(297)
    page.left_margin = page.right_margin = page.top_margin = page.bottom_margin = Mm(18)
    normal = document.styles["Normal"]
    normal.font.name = "SimSun"
    normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), "SimSun")
    document.styles.add_style(DISSENT_STYLE, WD_STYLE_TYPE.PARAGRAPH).base_style = normal
    moment = ensure_utc(content.generated_at)
    properties = document.core_properties
    properties.title = _clean(f"评标报告 Evaluation report {content.project_code} {content.lot_code}")
    properties.subject = _clean(f"{content.project_title} {content.lot_title}")
    properties.author = properties.last_modified_by = "bidhall"
    properties.identifier = f"bidhall-evaluation-report-{content.session_id}"
    properties.created = properties.modified = properties.last_printed = moment
    properties.revision = 1
    properties.comments = properties.keywords = properties.category = ""


def _fixed_zip(saved: bytes, moment: datetime) -> bytes:
    """The saved package rewritten with every entry dated ``moment`` (Beijing time, as zip
    dates are local) and the same attributes, in the order python-docx wrote them."""
    stamp = max(to_shanghai(moment).timetuple()[:6], _EARLIEST_ZIP_TIME)
    output = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(saved)) as source, zipfile.ZipFile(output, "w") as target:
        for entry in source.infolist():
            fixed = zipfile.ZipInfo(entry.filename, date_time=stamp)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.create_system = 3
            fixed.external_attr = 0o644 << 16
            target.writestr(fixed, source.read(entry))
    return output.getvalue()


def _check_consistent(content: ReportContent) -> None:
    """Refuse content whose parts do not refer to each other: a report must not name a
    candidate, seat or bid that is not in it."""
    bids = {b.bid_id for b in content.bidders}
    seats = {m.seat for m in content.members}
    problems = [f"candidate bid {bid} is not among the bidders" for bid in content.candidates if bid not in bids]
    for label, table in (("review marks", content.review_marks), ("scores", content.member_scores)):
        problems += [f"{label} of seat {seat}, who is not a member" for seat in table if seat not in seats]
        problems += [f"{label} of seat {seat} for bid {bid}, which is not among the bidders"
                     for seat, by_bid in table.items() for bid in by_bid if bid not in bids]
    if len(seats) != len(content.members):
        problems.append("two members share a seat")
    if problems:
        raise ValueError("inconsistent report content: " + "; ".join(problems))


def _table(document: Document, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    table = document.add_table(rows=1, cols=len(header))
    table.style = document.styles["Table Grid"]
    for cell, label in zip(table.rows[0].cells, header, strict=True):
        cell.paragraphs[0].add_run(_clean(label)).bold = True
    for row in rows:
        for cell, value in zip(table.add_row().cells, row, strict=True):
            cell.text = _clean(value)


def _pairs(document: Document, pairs: Sequence[tuple[str, str]]) -> None:
    table = document.add_table(rows=0, cols=2)
    table.style = document.styles["Table Grid"]
    for label, value in pairs:
        cells = table.add_row().cells
        cells[0].text, cells[1].text = _clean(label), _clean(value)


def _items(document: Document, items: Iterable[str], *, numbered: bool = False) -> None:
    style = "List Number" if numbered else "List Bullet"
    written = [document.add_paragraph(_clean(item), style=style) for item in items]
    if not written:
        document.add_paragraph(NONE)


def _members_in(content: ReportContent, table: dict[int, Any]) -> list[ReportMember]:
    return [m for m in sorted(content.members, key=lambda m: m.seat) if m.seat in table]


def _bidder_names(content: ReportContent) -> dict[int, str]:
    return {b.bid_id: b.name for b in content.bidders}


def _factor_names(declared: dict[str, Any], used: Iterable[dict[str, Any]]) -> tuple[str, ...]:
    """The declared names in their order, then any other name used, sorted."""
    extra = {name for names in used for name in names if name not in declared}
    return (*declared, *sorted(extra))


def _dissent_header(dissent: ReportDissent) -> str:
    about = dissent.bidder or "全部 all bidders"
    return _clean(f"第{dissent.seat}席 Seat {dissent.seat} {dissent.member} — 阶段 Stage: {dissent.stage}; "
                  f"投标人 Bidder: {about}")


def _recused(member: ReportMember) -> bool:
    return (member.note or "").strip().lower().startswith(RECUSED_NOTE_PREFIX)


def _role(member: ReportMember) -> str:
    if _recused(member):
        return "已回避 Recused"
    return "主任委员 Chair" if member.chair else "委员 Member"


def _review_outcome(passed: bool | None) -> str:
    return {True: "通过 Passed", False: "不通过 Failed", None: "未评审 Not reviewed"}[passed]


def _mark(passed: bool | None) -> str:
    return {True: "✓ 通过 pass", False: "✗ 不通过 fail", None: "—"}[passed]


def _evaluated_price(bidder: ReportBidder) -> Decimal | None:
    return bidder.corrected_price if bidder.corrected_price is not None else bidder.opened_price


def _money(value: Decimal | None) -> str:
    return "—" if value is None else f"{Decimal(value).quantize(_CENT, ROUND_HALF_UP):,}"


def _score(value: Decimal | None) -> str:
    return "—" if value is None else str(Decimal(value).quantize(_CENT, ROUND_HALF_UP))


def _time(moment: datetime | None) -> str:
    return "—" if moment is None else to_shanghai(moment).strftime("%Y-%m-%d %H:%M")


def _parameter(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (Decimal, int)) and not isinstance(value, bool):
        return str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _clean(text: str) -> str:
    """Text XML can hold: control characters and lone surrogates dropped, line ends unified."""
    return _NOT_XML.sub("", str(text).replace("\r\n", "\n").replace("\r", "\n"))
