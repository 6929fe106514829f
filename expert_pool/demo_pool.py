"""A generated pool for the demo: thousands of plausible experts across the classification.

Deterministic (a fixed random seed), so every demo database holds the same pool. The
people are fictional; their ID numbers are well-formed but belong to nobody.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor
from core.person_id import make_person_id
from expert_pool import service
from expert_pool.classification import default_classification
from expert_pool.schemas import Admission, ExpertCreate

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈姚卢"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红文斌辉鹏宇浩凯健俊峰婷雪琳晨"
REGIONS = ["350100", "350200", "350300", "350400", "350500", "350600", "350700", "350800", "350900"]
EMPLOYERS = ["福建省建筑设计研究院", "厦门大学", "福州大学", "福建省交通规划设计院", "福建省水利水电勘测设计研究院",
             "福建医科大学附属协和医院", "国网福建省电力有限公司", "福建省信息化工程监理公司", "华侨大学",
             "福建省会计师协会", "福建理工大学", "中国移动福建公司"]


def generated_experts(count: int, *, seed: int = 2026) -> Iterator[ExpertCreate]:
    chance = random.Random(seed)
    leaves = [category.code for category in default_classification() if len(category.code) >= 3]
    for serial in range(count):
        born = date(1956, 1, 1) + timedelta(days=chance.randrange(0, 365 * 35))
        region = chance.choice(REGIONS)
        senior = chance.random() < 0.8
        yield ExpertCreate.model_validate({
            "name": chance.choice(SURNAMES) + chance.choice(GIVEN) + (chance.choice(GIVEN) if chance.random() < .6 else ""),
            "id_number": make_person_id(f"{region}{born:%Y%m%d}{serial % 1000:03d}"),
            "phone": f"1{chance.choice('3589')}{chance.randrange(10**9):09d}",
            "employer_name": chance.choice(EMPLOYERS),
            "region_code": region,
            "title": "senior" if senior else "mid",
            "years_of_practice": chance.randrange(8, 36),
            "specialties": sorted(set(chance.sample(leaves, chance.randrange(1, 4)))),
            "track": "general" if senior else "government_procurement",
        }, strict=False)


async def load_demo_pool(session: AsyncSession, authority: Actor, count: int) -> int:
    """Register and admit ``count`` generated experts (idempotent by ID number)."""
    loaded = 0
    term = service.today() + timedelta(days=3 * 365)
    for data in generated_experts(count):
        try:
            async with session.begin_nested():
                expert = await service.register_expert(session, authority, data)
                await service.admit_expert(session, authority, expert.id,  # type: ignore[arg-type]
                                           Admission(term_until=term, track=data.track))
        except Exception:  # noqa: BLE001 - a duplicate or an over-age candidate is simply skipped
            continue
        loaded += 1
    return loaded
