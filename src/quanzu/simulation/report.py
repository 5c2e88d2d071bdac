"""The self-contained HTML report: one file a centre chief opens offline, with ECharts inlined
(the pinned npm package Quanzu already serves) and a "save as image" (PNG) button on every chart.
Written in Simplified Chinese, the reader's language; figures are the run's own."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from quanzu.codes import SCAM_TYPE_LABELS
from quanzu.simulation.scenario import Scenario
from quanzu.simulation.schemas import Comparison, RunResult

ECHARTS = Path("echarts") / "dist" / "echarts.min.js"
OUTCOME_LABELS = {
    "dissuaded": "劝阻成功",
    "lost": "已被骗",
    "not_fraud": "非诈骗",
    "unreachable": "联系不上",
    "open": "未结",
}
CONTACT_LABELS = {"officer": "民警/劝阻员", "guard": "反诈卫士", "relative": "亲属"}
SLA_LABELS = {"sign": "签收", "first_contact": "首次联系", "face_to_face": "会面", "feedback": "反馈"}
METRIC_LABELS = {
    "reached_share": "转账前联系到的比例",
    "dissuaded": "劝阻成功人数",
    "money_protected": "保护金额（元）",
    "money_lost": "损失金额（元）",
    "median_time_to_first_contact_s": "首次联系中位时间（秒）",
    "first_meeting_success_rate": "首次会面成功率",
    "escalated": "升级案件数",
    "utilisation": "劝阻员平均忙碌率",
}

_STYLE = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:0;background:#f4f6f9;color:#1d2733}
header{background:#16324f;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}
header p{margin:6px 0 0;opacity:.85}main{padding:18px 28px;max-width:1280px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:12px}
.card{background:#fff;border-radius:8px;padding:12px 16px;box-shadow:0 1px 3px #0002}
.card b{display:block;font-size:24px;margin-top:4px}.card small{color:#5a6878}
section{background:#fff;border-radius:8px;padding:14px 18px;margin:16px 0;box-shadow:0 1px 3px #0002}
section h2{font-size:17px;margin:0 0 4px}section p.note{color:#5a6878;margin:0 0 8px;font-size:14px}
.chart{width:100%;height:360px}.tall{height:560px}table{border-collapse:collapse;font-size:14px}
td,th{border-bottom:1px solid #e3e7ec;padding:5px 10px;text-align:left}
"""


def _card(label: str, value: str, note: str = "") -> str:
    parts = (
        f"<small>{html.escape(label)}</small><b>{html.escape(value)}</b><small>{html.escape(note)}</small>"
    )
    return f'<div class="card">{parts}</div>'


def _chart(chart_id: str, title: str, note: str, *, tall: bool = False) -> str:
    cls = "chart tall" if tall else "chart"
    return (
        f'<section><h2>{html.escape(title)}</h2><p class="note">{html.escape(note)}</p>'
        f'<div class="{cls}" id="{chart_id}"></div></section>'
    )


def _page(title: str, subtitle: str, body: str, charts: dict[str, Any], echarts_js: str) -> str:
    data = json.dumps(charts, ensure_ascii=False).replace("</", "<\\/")
    return f"""<!doctype html>
<html lang="zh-Hans"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style>
<script>{echarts_js}</script></head>
<body><header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header><main>{body}</main>
<script>
const OPTIONS = {data};
const TOOLBOX = {{feature: {{saveAsImage: {{title: "保存为图片", pixelRatio: 2}}}}}};
for (const [id, option] of Object.entries(OPTIONS)) {{
  const chart = echarts.init(document.getElementById(id), null, {{renderer: "canvas"}});
  chart.setOption(Object.assign({{toolbox: TOOLBOX, animation: false}}, option));
  window.addEventListener("resize", () => chart.resize());
}}
document.body.dataset.charts = String(Object.keys(OPTIONS).length);
</script></body></html>
"""


def _num(x: float, *, sign: bool = False) -> str:
    """Figures a chief reads: thousands separated, shares with four places."""
    plus = "+" if sign else ""
    if abs(x) >= 1000:
        return f"{x:{plus},.0f}"
    if abs(x) < 1:
        return f"{x:{plus}.4f}"
    return f"{x:{plus},.1f}"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.1f}%"


def _yuan(x: float) -> str:
    return f"{x / 10_000:,.1f} 万元"


def _minutes(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds / 60:.1f} 分钟"


def run_report(result: RunResult, scenario: Scenario, assets: Path) -> str:
    k, race, util = result.kpis, result.race, result.utilisation
    cards = "".join(
        [
            _card("预警数", f"{race.warnings:,}", f"{result.days} 天"),
            _card("转账前联系到", _pct(race.reached_share), f"{race.reached_before_transfer:,} 人"),
            _card("劝阻成功", f"{k.dissuaded:,}", "人"),
            _card("保护金额", _yuan(float(k.money_protected))),
            _card("损失金额", _yuan(float(k.money_lost))),
            _card("首次联系（中位）", _minutes(k.time_to_first_contact_s.median)),
            _card("签收（中位）", _minutes(k.time_to_sign_s.median)),
            _card("首次会面成功率", _pct(k.first_meeting_success_rate)),
            _card("升级案件", f"{k.escalated:,}"),
            _card(
                "回访",
                f"{race.callbacks:,}",
                f"拦住再次被骗 {race.second_attempts_caught:,}/{race.second_attempts:,}",
            ),
        ]
    )
    charts = {
        "daily": {
            "tooltip": {"trigger": "axis"},
            "legend": {"data": ["预警", "劝阻成功"]},
            "xAxis": {"type": "category", "data": [d.date.isoformat() for d in k.by_day]},
            "yAxis": {"type": "value"},
            "series": [
                {"name": "预警", "type": "line", "showSymbol": False, "data": [d.warnings for d in k.by_day]},
                {
                    "name": "劝阻成功",
                    "type": "line",
                    "showSymbol": False,
                    "data": [d.dissuaded for d in k.by_day],
                },
            ],
        },
        "outcomes": {
            "tooltip": {"trigger": "item"},
            "series": [
                {
                    "type": "pie",
                    "radius": ["35%", "70%"],
                    "data": [
                        {"name": OUTCOME_LABELS.get(o, o), "value": n} for o, n in race.outcomes.items()
                    ],
                }
            ],
        },
        "contact": {
            "tooltip": {},
            "xAxis": {"type": "category", "data": [CONTACT_LABELS.get(w, w) for w in race.first_contact_by]},
            "yAxis": {"type": "value"},
            "series": [{"type": "bar", "data": list(race.first_contact_by.values())}],
        },
        "sla": {
            "tooltip": {},
            "xAxis": {"type": "category", "data": [SLA_LABELS.get(s, s) for s in k.sla_breach_rate]},
            "yAxis": {"type": "value", "axisLabel": {"formatter": "{value}%"}},
            "series": [
                {"type": "bar", "data": [round((b.rate or 0) * 100, 2) for b in k.sla_breach_rate.values()]}
            ],
        },
        "utilisation": {
            "tooltip": {"position": "top"},
            "grid": {"left": 60, "top": 50, "bottom": 30},
            "xAxis": {"type": "category", "data": [f"{h:02d}时" for h in range(24)]},
            "yAxis": {"type": "category", "data": util.stations},
            "visualMap": {
                "min": 0,
                "max": 1,
                "calculable": True,
                "orient": "horizontal",
                "left": "center",
                "bottom": 0,
                "show": False,
            },
            "series": [
                {
                    "type": "heatmap",
                    "data": [
                        [h, i, util.by_station_hour[s][h]]
                        for i, s in enumerate(util.stations)
                        for h in range(24)
                    ],
                }
            ],
        },
        "stations": {
            "tooltip": {},
            "grid": {"left": 110},
            "xAxis": {"type": "value", "name": "分钟"},
            "yAxis": {"type": "category", "inverse": True, "data": [r.name for r in k.station_ranking]},
            "series": [
                {
                    "type": "bar",
                    "data": [
                        round((r.median_time_to_first_contact_s or 0) / 60, 1) for r in k.station_ranking
                    ],
                }
            ],
        },
        "scam": {
            "tooltip": {"trigger": "axis"},
            "legend": {"data": ["案件", "劝阻成功"]},
            "grid": {"left": 140},
            "xAxis": {"type": "value"},
            "yAxis": {
                "type": "category",
                "data": [SCAM_TYPE_LABELS.get(r.scam_type, r.scam_type) for r in k.by_scam_type],
            },
            "series": [
                {"name": "案件", "type": "bar", "data": [r.cases for r in k.by_scam_type]},
                {"name": "劝阻成功", "type": "bar", "data": [r.dissuaded for r in k.by_scam_type]},
            ],
        },
    }
    body = (
        f'<div class="cards">{cards}</div>'
        + _chart("daily", "每日预警与劝阻", "全年每天收到的预警数和劝阻成功数（按本地日期）。")
        + _chart("outcomes", "每条预警的结局", "每条预警都以且仅以一种结局结束。")
        + _chart("contact", "谁先联系到对象", "预警竞速赛：民警、反诈卫士、亲属谁先与对象说上话。")
        + _chart("sla", "各环节超时率", "按处置规范（策略文件）的时限，超过时限的比例。")
        + _chart(
            "utilisation",
            "劝阻员忙碌率（派出所 × 小时）",
            "颜色越深，在岗劝阻员处置案件的时间占比越高；深色时段考虑加人。",
            tall=True,
        )
        + _chart("stations", "各派出所首次联系中位时间", "越短越好：与诈骗分子赛跑。", tall=True)
        + _chart("scam", "诈骗类型", "各类型的案件数与劝阻成功数。")
        + _assumptions(scenario)
    )
    subtitle = (
        f"场景：{scenario.name} · 随机种子 {result.seed} · {result.days} 天 · 运行 {result.seconds:.1f} 秒"
    )
    return _page("反诈劝阻模拟报告", subtitle, body, charts, _echarts(assets))


def comparison_report(comparison: Comparison, a: Scenario, b: Scenario, assets: Path) -> str:
    rows = []
    charts: dict[str, Any] = {}
    for i, (metric, parts) in enumerate(comparison.metrics.items()):
        label = METRIC_LABELS.get(metric, metric)
        d = parts["b_minus_a"]
        rows.append(
            f"<tr><td>{html.escape(label)}</td><td>{_num(parts['a'].mean)}</td><td>{_num(parts['b'].mean)}</td>"
            f"<td>{_num(d.mean, sign=True)}</td>"
            f"<td>[{_num(d.low, sign=True)}, {_num(d.high, sign=True)}]</td></tr>"
        )
        charts[f"m{i}"] = {
            "title": {
                "text": label,
                "subtext": f"B − A = {_num(d.mean, sign=True)}，95% 置信区间 "
                f"[{_num(d.low, sign=True)}, {_num(d.high, sign=True)}]（按种子配对）",
                "textStyle": {"fontSize": 14},
            },
            "tooltip": {},
            "xAxis": {"type": "category", "data": [comparison.a, comparison.b]},
            "grid": {"top": 70},
            "yAxis": {"type": "value", "scale": True},
            "series": [
                {"type": "bar", "data": [parts["a"].mean, parts["b"].mean]},
                {
                    "type": "scatter",
                    "name": "95% 置信区间（上下限）",
                    "symbol": "rect",
                    "symbolSize": [24, 2],
                    "data": [
                        [0, parts["a"].low],
                        [0, parts["a"].high],
                        [1, parts["b"].low],
                        [1, parts["b"].high],
                    ],
                },
            ],
        }
    table = (
        "<section><h2>差异（B − A），按随机种子配对</h2>"
        f'<p class="note">{len(comparison.seeds)} 个随机种子，'
        "每个种子下两种方案遇到同样的预警和同样的对象（共同随机数）；"
        "区间为 95% 置信区间（t 分布）。区间不含 0 才说明差异可信。</p>"
        "<table><tr><th>指标</th><th>A 均值</th><th>B 均值</th><th>B − A</th><th>95% 置信区间</th></tr>"
        + "".join(rows)
        + "</table></section>"
    )
    sections = "".join(
        f'<section><div class="chart" id="m{i}"></div></section>' for i in range(len(comparison.metrics))
    )
    subtitle = f"A：{a.name} · B：{b.name} · 随机种子 {', '.join(map(str, comparison.seeds))}"
    return _page("反诈劝阻方案对比", subtitle, table + sections + _assumptions(b), charts, _echarts(assets))


def _assumptions(scenario: Scenario) -> str:
    if not scenario.assumptions:
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
        for k, v in scenario.assumptions.items()
    )
    head = '<h2>假设（ASSUMPTION）</h2><p class="note">以下参数没有公开数据，是模型的假设。</p>'
    return f"<section>{head}<table>{rows}</table></section>"


def _echarts(assets: Path) -> str:
    path = assets / ECHARTS
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `make install` (npm ci in web/)")
    return path.read_text(encoding="utf-8")
