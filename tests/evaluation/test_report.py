"""The evaluation report .docx: every section and figure DOMAIN.md asks for, Chinese text,
Beijing times, and the same bytes for the same content."""

from __future__ import annotations

import dataclasses
import io
import zipfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import docx
import pytest

from evaluation.report import (
    attached_dissent,
    build_report,
    dissent_text,
    report_text,
    signature_page,
)
from evaluation.report_content import (
    ReportBidder,
    ReportClarification,
    ReportContent,
    ReportDissent,
    ReportMember,
)

GENERATED = datetime(2025, 3, 14, 8, 30, tzinfo=UTC)  # 16:30 in Beijing
FACTORS = {"技术方案 technical": Decimal(40), "售后服务 service": Decimal(20)}
CRITERIA = ("投标保证金 bid bond", "签字盖章 signature and seal", "资格 qualification")


def _bidder(bid_id: int, name: str, price: str, **changes: object) -> ReportBidder:
    base = ReportBidder(
        bid_id=bid_id, name=name, uscc=f"91110000MA0{bid_id:07d}X", opened_price=Decimal(price),
        corrected_price=None, corrections=(), review_passed=True, rejection_reasons=(), abnormally_low=False,
        price_score=None, factor_scores={}, total_score=None, rank=None, candidate=False)
    return dataclasses.replace(base, **changes)


def sample_content(**changes: object) -> ReportContent:
    """A lot of four bidders before a committee of five, one of them replaced."""
    bidders = (
        _bidder(11, "北京宏远建设有限公司 Hongyuan Construction", "1234567.80", price_score=Decimal("40.00"),
                factor_scores={"技术方案 technical": Decimal("35.50"), "售后服务 service": Decimal("18.00")},
                total_score=Decimal("93.50"), rank=1, candidate=True),
        _bidder(12, "天津恒通工程有限公司 Hengtong Engineering", "1300000.00", corrected_price=Decimal("1299000.00"),
                corrections=("大写金额优先于小写金额 words beat figures: 1,300,000.00 -> 1,299,000.00",),
                price_score=Decimal("38.01"),
                factor_scores={"技术方案 technical": Decimal("33.00"), "售后服务 service": Decimal("17.25")},
                total_score=Decimal("88.26"), rank=2, candidate=True),
        _bidder(13, "河北低价科技有限公司 Dijia Technology", "612000.00", abnormally_low=True,
                price_score=Decimal("30.12"),
                factor_scores={"技术方案 technical": Decimal("20.00"), "售后服务 service": Decimal("10.00")},
                total_score=Decimal("60.12"), rank=3, candidate=False),
        _bidder(14, "山东失格设备有限公司 Shige Equipment", "1100000.00", review_passed=False,
                rejection_reasons=("未提交投标保证金 no bid bond", "投标函未盖章 bid letter not sealed")),
    )
    members = (
        ReportMember(1, "张伟", "EXP-0001", "建筑工程 building", "主会场 main venue", True, None),
        ReportMember(2, "李娜", "EXP-0002", "造价 cost", "主会场 main venue", False, None),
        ReportMember(3, "王磊", "EXP-0003", "电气 electrical", "副会场 secondary venue A", False,
                     "recused (conflict: former employee of Hongyuan Construction); replaced by seat 6"),
        ReportMember(4, "刘洋", "EXP-0004", "给排水 plumbing", "副会场 secondary venue A", False, None),
        ReportMember(5, "陈静", "EXP-0005", "暖通 HVAC", "主会场 main venue", False, None),
        ReportMember(6, "赵敏", "EXP-0006", "电气 electrical", "副会场 secondary venue A", False,
                     "replaces seat 3 (drawn 2025-03-14)"),
    )
    seats = (1, 2, 4, 5, 6)
    review_marks = {seat: {bid: {c: not (bid == 14 and c == CRITERIA[0]) for c in CRITERIA}
                           for bid in (11, 12, 13, 14)} for seat in seats}
    member_scores = {seat: {bid: {"技术方案 technical": Decimal(30 + seat), "售后服务 service": Decimal("15.5")}
                            for bid in (11, 12, 13)} for seat in seats}
    content = ReportContent(
        session_id=7, project_code="ZB-2025-0042", project_title="市民中心改造 Civic centre renovation",
        lot_code="ZB-2025-0042-01", lot_title="第一标段 Lot 1", segment="construction", procedure="open tender",
        tenderer="北京市民中心管理处 Civic Centre Office", agency="华信招标代理 Huaxin Tendering",
        notice_media=("中国招标投标公共服务平台 China Tendering Public Service Platform", "bidhall"),
        opening_at=datetime(2025, 3, 14, 1, 30, tzinfo=UTC), opening_place="开标室一 Opening room 1",
        method_code="comprehensive_scoring", method_title="综合评分法 Comprehensive scoring",
        parameters={"price_weight": Decimal(40), "max_candidates": 3, "drop_extremes": False},
        review_criteria=CRITERIA, factors=FACTORS, benchmark_price=Decimal("612000.00"),
        bidders=bidders, members=members,
        clarifications=(ReportClarification(
            bidder="天津恒通工程有限公司 Hengtong Engineering", question="请说明工期安排 Explain the schedule",
            asked_at=datetime(2025, 3, 14, 3, 0, tzinfo=UTC), due_at=datetime(2025, 3, 14, 3, 30, tzinfo=UTC),
            answer="工期 180 天 180 days", answered_at=datetime(2025, 3, 14, 3, 20, tzinfo=UTC)),),
        dissents=(ReportDissent(seat=4, member="刘洋", stage="results", bidder="河北低价科技有限公司 Dijia Technology",
                                text="报价低于成本，应否决 The price is below cost; the bid should be rejected."),),
        member_scores=member_scores, review_marks=review_marks, candidates=(11, 12), generated_at=GENERATED)
    return dataclasses.replace(content, **changes)


@pytest.fixture(scope="module")
def report() -> bytes:
    return build_report(sample_content())


@pytest.fixture(scope="module")
def text(report: bytes) -> str:
    return report_text(report)


def test_the_report_is_a_docx_python_docx_reads(report: bytes) -> None:
    document = docx.Document(io.BytesIO(report))
    headings = [p.text for p in document.paragraphs if p.style.name.startswith(("Heading", "Title"))]
    for expected in ("评标报告 Evaluation report", "一、招标公告发布媒介及开标 Notice media and opening",
                     "二、投标人名单 Bidders", "三、评标委员会 Evaluation committee",
                     "成员回避与更换 Recusals and replacements", "四、评标方法和标准 Evaluation method and criteria",
                     "五、开标记录及价格修正 Opening record and price corrections",
                     "无效投标及理由 Invalid bids and reasons", "七、异常低价 Abnormally low prices",
                     "八、详细评审得分 Detailed evaluation scores",
                     "九、评标结果及推荐的中标候选人 Result and recommended candidates", "十、澄清 Clarifications",
                     "十一、不同意见 Dissent",
                     "附录一 成员初步评审记录 Appendix A: members' preliminary review marks",
                     "附录二 成员评分记录 Appendix B: members' scores",
                     "评标委员会成员签字 Signatures of the committee members"):
        assert expected in headings
    assert document.core_properties.created == GENERATED == document.core_properties.modified
    assert document.core_properties.revision == 1


def test_notice_opening_and_times_in_beijing(text: str) -> None:
    assert "中国招标投标公共服务平台 China Tendering Public Service Platform" in text
    assert "开标时间 Opening time: 2025-03-14 09:30" in text  # 01:30 UTC
    assert "开标地点 Opening place: 开标室一 Opening room 1" in text
    assert "报告生成时间 Generated | 2025-03-14 16:30" in text


def test_bidders_committee_and_replacement(text: str) -> None:
    assert "11 | 北京宏远建设有限公司 Hongyuan Construction | 91110000MA00000011X" in text
    assert "1 | 张伟 | EXP-0001 | 建筑工程 building | 主会场 main venue | 主任委员 Chair |" in text
    assert "3 | 王磊 | EXP-0003 | 电气 electrical | 副会场 secondary venue A | 已回避 Recused | recused" in text
    assert "第3席 Seat 3 王磊: recused (conflict: former employee of Hongyuan Construction); replaced by seat 6" \
        in text
    assert "第6席 Seat 6 赵敏: replaces seat 3" in text


def test_method_criteria_and_factors(text: str) -> None:
    assert "评标方法 Method: 综合评分法 Comprehensive scoring (comprehensive_scoring)" in text
    assert "price_weight | 40" in text and "drop_extremes | false" in text
    for criterion in CRITERIA:
        assert criterion in text
    assert "技术方案 technical | 40.00" in text


def test_opening_record_corrections_and_money_with_two_places(text: str) -> None:
    assert "北京宏远建设有限公司 Hongyuan Construction | 1,234,567.80 | —" in text
    assert "天津恒通工程有限公司 Hengtong Engineering | 1,300,000.00 | 1,299,000.00" in text
    assert "天津恒通工程有限公司 Hengtong Engineering: 大写金额优先于小写金额 words beat figures" in text


def test_invalid_bids_with_reasons_and_abnormally_low(text: str) -> None:
    assert ("山东失格设备有限公司 Shige Equipment | 不通过 Failed | 未提交投标保证金 no bid bond; "
            "投标函未盖章 bid letter not sealed") in text
    assert "山东失格设备有限公司 Shige Equipment (91110000MA00000014X): 未提交投标保证金 no bid bond" in text
    assert "河北低价科技有限公司 Dijia Technology: 612,000.00 — 报价明显低于其他投标报价" in text


def test_scores_result_and_ranked_candidates(text: str) -> None:
    assert "评标基准价 Benchmark price: 612,000.00" in text
    assert ("天津恒通工程有限公司 Hengtong Engineering | 1,299,000.00 | 38.01 | 33.00 | 17.25 | 88.26 | 2"
            in text)
    scores = text[text.index("八、详细评审得分"):text.index("九、评标结果")]
    assert "山东失格设备有限公司" not in scores  # a bid that failed the review is not scored
    first = text.index("第1中标候选人 Candidate 1: 北京宏远建设有限公司 Hongyuan Construction")
    second = text.index("第2中标候选人 Candidate 2: 天津恒通工程有限公司 Hengtong Engineering")
    assert first < second
    assert "第3中标候选人" not in text


def test_clarification_and_dissent(text: str) -> None:
    assert ("天津恒通工程有限公司 Hengtong Engineering | 请说明工期安排 Explain the schedule | 2025-03-14 11:00 | "
            "2025-03-14 11:30 | 工期 180 天 180 days | 2025-03-14 11:20") in text
    assert "第4席 Seat 4 刘洋 — 阶段 Stage: results; 投标人 Bidder: 河北低价科技有限公司 Dijia Technology" in text
    assert "报价低于成本，应否决 The price is below cost; the bid should be rejected." in text


def test_appendices_hold_every_members_marks_and_scores(report: bytes) -> None:
    document = docx.Document(io.BytesIO(report))
    mark_tables = [t for t in document.tables if tuple(c.text for c in t.rows[0].cells) == ("投标人 Bidder",
                                                                                             *CRITERIA)]
    score_tables = [t for t in document.tables if tuple(c.text for c in t.rows[0].cells)
                    == ("投标人 Bidder", *FACTORS, "合计 Sum")]
    assert len(mark_tables) == 5 and len(score_tables) == 5
    failed_row = [c.text for c in mark_tables[0].rows[4].cells]
    assert failed_row == ["山东失格设备有限公司 Shige Equipment", "✗ 不通过 fail", "✓ 通过 pass", "✓ 通过 pass"]
    seat_six_first_bid = [c.text for c in score_tables[-1].rows[1].cells]
    assert seat_six_first_bid == ["北京宏远建设有限公司 Hongyuan Construction", "36.00", "15.50", "51.50"]


def test_signature_page_lists_every_signing_member_not_the_recused_one(report: bytes, text: str) -> None:
    assert signature_page(report) == ((1, "张伟"), (2, "李娜"), (4, "刘洋"), (5, "陈静"), (6, "赵敏"))
    assert "1 | 张伟 | 主任委员 Chair | signatures/seat-1.p7s" in text


def test_dissent_attached_reads_back_as_dissent_text(report: bytes) -> None:
    assert attached_dissent(report) == dissent_text(sample_content().dissents)
    assert attached_dissent(build_report(sample_content(dissents=()))) == "" == dissent_text(())


def test_chinese_text_is_stored_as_text_with_an_east_asian_font(report: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(report)) as package:
        body = package.read("word/document.xml").decode()
        styles = package.read("word/styles.xml").decode()
    assert "评标委员会" in body and "北京宏远建设有限公司" in body
    assert 'w:eastAsia="SimSun"' in styles


def test_same_content_gives_the_same_bytes(report: bytes) -> None:
    assert build_report(sample_content()) == report
    with zipfile.ZipFile(io.BytesIO(report)) as package:
        assert {info.date_time for info in package.infolist()} == {(2025, 3, 14, 16, 30, 0)}
        assert package.infolist()[0].filename == "[Content_Types].xml"


@pytest.mark.parametrize("change", [
    {"generated_at": GENERATED + timedelta(seconds=1)},
    {"candidates": (12, 11)},
    {"benchmark_price": Decimal("612000.01")},
    {"dissents": ()},
])
def test_different_content_gives_different_bytes(report: bytes, change: dict[str, object]) -> None:
    assert build_report(sample_content(**change)) != report


def test_empty_sections_say_none() -> None:
    text = report_text(build_report(sample_content(clarifications=(), dissents=(), candidates=(), agency=None)))
    assert "十、澄清 Clarifications\n无 None" in text
    assert "九、评标结果及推荐的中标候选人 Result and recommended candidates\n无 None" in text
    assert "招标代理机构 Agency | 无 None" in text


def test_text_xml_cannot_hold_is_dropped_not_a_crash() -> None:
    dissent = ReportDissent(seat=2, member="李娜", stage="results", bidder=None, text="理由\x00 reason\r\nline two")
    report = build_report(sample_content(dissents=(dissent,)))
    assert "理由 reason\nline two" in report_text(report)
    assert attached_dissent(report) == dissent_text((dissent,))


@pytest.mark.parametrize(("change", "message"), [
    ({"candidates": (99,)}, "candidate bid 99 is not among the bidders"),
    ({"member_scores": {9: {}}}, "scores of seat 9, who is not a member"),
    ({"review_marks": {1: {98: {}}}}, "review marks of seat 1 for bid 98"),
])
def test_inconsistent_content_is_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_report(sample_content(**change))
