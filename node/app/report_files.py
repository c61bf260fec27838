"""A report's files: an A4 PDF with its Chinese font embedded, and an .xlsx workbook.

Both are drawn from one list of `Section`s (`sections(report)`): a title, Chinese column
headers and rows of plain values, so the PDF and the workbook never disagree. The workbook
has one sheet per section (openpyxl, numbers kept as numbers, rates formatted as
percentages); the PDF is fpdf2 with the TrueType font the node ships
(node/data/fonts/wqy-microhei.ttf, its README says why), which fpdf2 subsets and embeds
(CIDFontType2 with a ToUnicode map, so the text can be searched and extracted) — never a
PDF base font or a non-embedded CID font, which an offline reader without that font would
show as boxes. A bar chart of the child units' on-time rates is drawn with plain
rectangles. fpdf2 (with fontTools) and openpyxl are imported when a file is drawn, not
when the node starts: together they were a fifth of a node process's imports.

Reports leave the node's tier: nothing in a section names an enterprise or a person —
units, departments, tags and counts only. The 有感指数 section shows the ranking
node/app/index.py computed for the period (carried in the report's content), not a
recomputation.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from node.domain.reports import Figures, Kind, Period, Report, Special

if TYPE_CHECKING:
    from fpdf import FPDF

Value = str | int | float | None
KIND_ZH = {Kind.MONTH: "月度报告", Kind.QUARTER: "季度报告", Kind.YEAR: "年度报告",
           Kind.SPECIAL: "专项报告"}
RATE_ZH = (("resolution", "办结率"), ("on_time", "按时办结率"), ("satisfaction", "满意率"),
           ("repeat", "重复诉求率"), ("recurrence", "重发复发率"))
MIX_ZH = (("done", "已办结"), ("green", "绿灯"), ("yellow", "黄灯"), ("red", "红灯"),
          ("none", "未计时"))
FONT = "zh"
#: departments listed in the PDF (a city has hundreds; every one is in the workbook)
PDF_DEPARTMENTS = 30


@dataclass(frozen=True, kw_only=True, slots=True)
class Section:
    title: str  # also the sheet's name (≤ 31 characters)
    headers: tuple[str, ...]
    rows: list[list[Value]]
    #: which columns hold rates (0..1): shown as percentages
    rate_columns: frozenset[int] = field(default_factory=frozenset)
    #: which rows hold rates in every column but the first (the overview)
    rate_rows: frozenset[int] = field(default_factory=frozenset)
    note: str = ""
    widths: tuple[float, ...] | None = None  # relative column widths in the PDF
    #: the PDF shows this many rows at most (the workbook all of them)
    pdf_rows: int | None = None


def title_for(node_name: str, period: Period) -> str:
    return f"{node_name}{period.label_zh()}涉企问题闭环办理{KIND_ZH[period.kind]}"


def title_of(report: Report) -> str:
    return title_for(report.node_name, report.period)


def _change(now: float | int | None, before: float | int | None) -> float | int | None:
    if now is None or before is None:
        return None
    return round(now - before, 4) if isinstance(now, float) or isinstance(before, float) \
        else now - before


def _overview(r: Report) -> Section:
    p = r.period
    headers = ("指标", f"本期 {p.key}", f"上期 {p.previous().key}", "环比变化",
               f"去年同期 {p.year_before().key}", "同比变化")
    rows: list[list[Value]] = []
    rate_rows: list[int] = []

    def add(label: str, get: object) -> None:
        assert callable(get)
        a, b, c = get(r.current), get(r.previous), get(r.year_before)
        rows.append([label, a, b, _change(a, b), c, _change(a, c)])

    for label, attr in (("受理件数", "received"), ("办结件数", "resolved"),
                        ("结案件数", "closed"), ("上交上级件数", "escalated")):
        add(label, lambda f, a=attr: getattr(f, a))
    for name, label in RATE_ZH:
        rate_rows.append(len(rows))
        add(label, lambda f, n=name: f.rate(n))
    add("平均办理时长（小时）", lambda f: f.avg_handling_hours)
    rows.append(["当前超期件数", r.current.overdue, None, None, None, None])
    return Section(title="主要指标", headers=headers, rows=rows, rate_rows=frozenset(rate_rows),
                   note=f"本期 {p.start.date()} 至 {p.last_day}（北京时间）；截至 "
                        f"{r.as_of.astimezone(p.start.tzinfo).strftime('%Y-%m-%d %H:%M')}。"
                        "办结率按本期受理件计；按时办结率、满意率、重复诉求率按本期办结件计；"
                        "重发复发率按本期结案件计（90 天观察期）。")


def _mix(r: Report) -> Section:
    total = sum(r.current.mix.values())
    rows: list[list[Value]] = [[label, r.current.mix.get(k, 0),
                                round(r.current.mix.get(k, 0) / total, 4) if total else None]
                               for k, label in MIX_ZH]
    return Section(title="亮灯情况", headers=("本期受理件当前状态", "件数", "占比"), rows=rows,
                   rate_columns=frozenset({2}))


def _unit_row(r: Report, f: Figures) -> list[Value]:
    return [f.received, f.resolved, f.rate("resolution"), f.rate("on_time"),
            f.rate("satisfaction"), f.rate("repeat"), f.overdue]


def _units(r: Report) -> Section:
    rows = [[row.rank if row.rank is not None else "样本不足", r.name(row.unit), row.unit,
             *_unit_row(r, row.figures)] for row in r.units]
    return Section(title="下级单位排名",
                   headers=("名次", "单位", "区划代码", "受理", "办结", "办结率", "按时办结率",
                            "满意率", "重复诉求率", "超期"),
                   rows=rows, rate_columns=frozenset({5, 6, 7, 8}),
                   widths=(1, 2.4, 1.4, 1, 1, 1.1, 1.4, 1.1, 1.4, 1),
                   note=f"按按时办结率排名，本期办结不少于 {r.min_sample} 件方参与排名。")


def _summaries(r: Report) -> Section:
    rows: list[list[Value]] = [
        [r.name(s.unit), s.unit, s.as_of.astimezone(r.period.start.tzinfo)
         .strftime("%Y-%m-%d %H:%M"), s.total, s.open, s.overdue, s.rate("resolution"),
         s.rate("on_time"), s.rate("satisfaction"), s.rate("repeat")] for s in r.summaries]
    return Section(title="下级单位汇总", headers=("单位", "区划代码", "汇总截至", "累计件数",
                                              "在办", "超期", "办结率", "按时办结率", "满意率",
                                              "重复诉求率"),
                   rows=rows, rate_columns=frozenset({6, 7, 8, 9}),
                   widths=(2, 1.3, 2.2, 1.1, 1, 1, 1.1, 1.4, 1.1, 1.4),
                   note="下级只上报汇总（不含企业信息）：累计数，截至各单位最近一次汇总。")


def _departments(r: Report) -> Section:
    rows = [[row.rank if row.rank is not None else "样本不足", r.name(row.unit),
             row.department, *_unit_row(r, row.figures)] for row in r.departments]
    return Section(title="部门排名",
                   headers=("名次", "所属单位", "部门", "受理", "办结", "办结率", "按时办结率",
                            "满意率", "重复诉求率", "超期"),
                   rows=rows, rate_columns=frozenset({5, 6, 7, 8}),
                   widths=(1, 2.4, 2, 1, 1, 1.1, 1.4, 1.1, 1.4, 1), pdf_rows=PDF_DEPARTMENTS,
                   note="同名部门按所属单位分列。" + (
                       f"PDF 列出前 {PDF_DEPARTMENTS} 个，共 {len(rows)} 个部门见 Excel。"
                       if len(rows) > PDF_DEPARTMENTS else ""))


def _tags(r: Report) -> Section:
    return Section(title="热点标签前十", headers=("序号", "标签", "件数"),
                   rows=[[i, t, n] for i, (t, n) in enumerate(r.top_tags, 1)])


#: the index's components (node/domain/index.py COMPONENTS), as the ranking screen names them
COMPONENT_ZH = (("resolution", "办结率"), ("on_time", "按时办结率"), ("satisfaction", "满意率"),
                ("recurrence", "重发复发（反向）"), ("overdue", "超时办结（反向）"),
                ("eval_grassroots", "基层评价"), ("eval_enterprise", "企业评价"),
                ("eval_third_party", "第三方评价"))
_REASON_ZH = {"sample_below_minimum": "样本不足", "no_index": "无指数"}
INDEX_TITLE = "有感指数排名"


def _index(r: Report) -> Section:
    """The ranking exactly as node/app/index.py answers it: rank, index, change against
    the period before, each component's score (0–100)."""
    assert r.index is not None
    rows: list[list[Value]] = []
    for row in r.index.get("rows", []):
        scores = {c["name"]: c["value"] for c in row.get("components", [])}
        rank: Value = row["rank"] if row["rank"] is not None else \
            _REASON_ZH.get(row.get("reason") or "", "未排名")
        rows.append([rank, row.get("name", row["unit"]), row["index"], row["previous_index"],
                     row["index_change"], row["rank_change"],
                     *[scores.get(name) for name, _ in COMPONENT_ZH]])
    weights = r.index.get("weights", {})
    used = "、".join(f"{label} {weights[name]:g}" for name, label in COMPONENT_ZH
                    if weights.get(name))
    return Section(title=INDEX_TITLE,
                   headers=("名次", "单位", "指数", "上期指数", "指数变化", "名次变化",
                            *[label for _, label in COMPONENT_ZH]),
                   rows=rows, widths=(1, 2.4, 1, 1, 1, 1, 1, 1.2, 1, 1.3, 1.3, 1, 1, 1.1),
                   note=f"上期 {r.index.get('previous_period', '')}；名次变化为正表示上升。"
                        f"本期办结不少于 {r.index.get('min_sample', r.min_sample)} 件方参与排名。"
                        f"分项为 0–100 分，权重：{used}。")


def _choice(r: Report, p: Special) -> Section:
    """What a special report counts: its days, tags and units."""
    return Section(title="专项范围", headers=("范围", "选择"), rows=[
        ["统计期", f"{p.first} 至 {p.last}"],
        ["标签", "、".join(p.tags) if p.tags else "全部"],
        ["单位", "、".join(r.name(u) if u in r.names else u for u in p.units)
         if p.units else "全部"]],
        widths=(1, 5), note="只统计带所选标签之一、且交办给或来自所选单位之一的诉求；"
                            "上期为紧邻的同样天数，去年同期为去年的同样日期。")


def sections(report: Report) -> list[Section]:
    out = [_overview(report), _mix(report)]
    if isinstance(report.period, Special):
        out.insert(0, _choice(report, report.period))
    if report.index is not None:
        out.append(_index(report))
    if report.units:
        out.append(_units(report))
    if report.summaries:
        out.append(_summaries(report))
    out += [_departments(report), _tags(report)]
    return out


def _is_rate(section: Section, row: int, col: int) -> bool:
    return col in section.rate_columns or (col > 0 and row in section.rate_rows)


def _text(section: Section, row: int, col: int, value: Value) -> str:
    if value is None:
        return "—"
    if _is_rate(section, row, col) and isinstance(value, int | float):
        pct = value * 100
        sign = "+" if section.headers[col].endswith("变化") and pct > 0 else ""
        return f"{sign}{pct:.1f}" + ("个百分点" if section.headers[col].endswith("变化") else "%")
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


# --------------------------------------------------------------------------- xlsx


def to_xlsx(report: Report) -> bytes:
    """One sheet per section, headers in Chinese, numbers as numbers."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    book = Workbook()
    first = book.active
    assert first is not None
    book.remove(first)
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDE7F0")
    for s in sections(report):
        sheet = book.create_sheet(s.title[:31])
        sheet.append([title_of(report)])
        sheet.cell(row=1, column=1).font = Font(bold=True, size=13)
        sheet.append(list(s.headers))
        for cell in sheet[2]:
            cell.font, cell.fill = bold, fill
            cell.alignment = Alignment(horizontal="center")
        for i, row in enumerate(s.rows):
            sheet.append(list(row))
            for j in range(len(row)):
                if _is_rate(s, i, j) and isinstance(row[j], int | float):
                    sheet.cell(row=i + 3, column=j + 1).number_format = "0.0%"
        if s.note:
            sheet.append([])
            sheet.append([s.note])
        for j, header in enumerate(s.headers):
            width = max([len(header) * 2 + 2] + [len(str(r[j])) + 2 for r in s.rows if
                                                 r[j] is not None])
            sheet.column_dimensions[sheet.cell(row=2, column=j + 1).column_letter].width = \
                min(width, 40)
        sheet.freeze_panes = "A3"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# --------------------------------------------------------------------------- pdf


@cache
def _pdf_class() -> type[FPDF]:
    """fpdf2's document with the report's footer (built on the first PDF drawn)."""
    from fpdf import FPDF

    class Pdf(FPDF):
        def __init__(self, title: str) -> None:
            super().__init__(orientation="portrait", unit="mm", format="A4")
            self.report_title = title

        def footer(self) -> None:
            self.set_y(-12)
            self.set_font(FONT, size=8)
            self.cell(0, 6, f"{self.report_title}　第 {self.page_no()} 页", align="C")

    return Pdf


def _bars(pdf: FPDF, report: Report) -> None:
    """Child units' on-time rates as horizontal bars (ranked units first)."""
    from fpdf.enums import XPos, YPos

    rows = [(report.name(r.unit), r.figures.rate("on_time")) for r in report.units
            if r.figures.rate("on_time") is not None][:20]
    if not rows:
        return
    pdf.set_font(FONT, size=11)
    pdf.cell(0, 8, "下级单位按时办结率", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, size=8)
    left, width = pdf.l_margin + 30, pdf.epw - 45
    for name, rate in rows:
        if pdf.will_page_break(6):
            pdf.add_page()
        y = pdf.get_y()
        pdf.set_xy(pdf.l_margin, y)
        pdf.cell(29, 5, name[:12], align="R")
        pdf.set_fill_color(70, 130, 180)
        pdf.rect(left, y + 0.8, max(width * (rate or 0.0), 0.3), 3.4, style="F")
        pdf.set_xy(left + width * (rate or 0.0) + 1, y)
        pdf.cell(14, 5, f"{(rate or 0.0) * 100:.1f}%")
        pdf.set_xy(pdf.l_margin, y + 5.5)
    pdf.set_fill_color(255, 255, 255)  # tables after the chart are not filled
    pdf.ln(3)


def to_pdf(report: Report, *, font: Path) -> bytes:
    """The A4 report: title, the sections as tables, a chart of the child units."""
    from fpdf.enums import XPos, YPos
    from fpdf.fonts import FontFace

    title = title_of(report)
    pdf = _pdf_class()(title)
    pdf.set_title(title)
    pdf.set_author(report.node_name)
    pdf.set_creator("Zhitong")
    pdf.set_creation_date(report.as_of)
    pdf.add_font(FONT, fname=str(font))
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font(FONT, size=16)
    pdf.multi_cell(0, 9, title, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, size=9)
    as_of = report.as_of.astimezone(report.period.start.tzinfo).strftime("%Y-%m-%d %H:%M")
    pdf.cell(0, 6, f"{report.node_name}（{report.node}）　统计期 {report.period.start.date()}"
             f" 至 {report.period.last_day}　数据截至 {as_of}（北京时间）", align="C",
             new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)
    heading = FontFace(emphasis=None, fill_color=(221, 231, 240))
    for s in sections(report):
        if pdf.will_page_break(30):
            pdf.add_page()
        pdf.set_font(FONT, size=11)
        pdf.cell(0, 8, s.title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font(FONT, size=8)
        if not s.rows:
            pdf.cell(0, 6, "（本期无数据）", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        else:
            with pdf.table(headings_style=heading, line_height=5, text_align="CENTER",
                           first_row_as_headings=True, repeat_headings=1,
                           col_widths=s.widths) as table:
                table.row(list(s.headers))
                for i, row in enumerate(s.rows[:s.pdf_rows]):
                    table.row([_text(s, i, j, v) for j, v in enumerate(row)])
        if s.note:
            pdf.set_font(FONT, size=7)
            pdf.multi_cell(0, 4, s.note, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(3)
        if s.title == "下级单位排名":
            _bars(pdf, report)
    return bytes(pdf.output())
