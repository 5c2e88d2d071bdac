"""Synthetic labelled descriptions, as a hotline operator or a bank would write them: for tests,
the benchmark and the demo (no real case text exists outside a centre)."""

from __future__ import annotations

import random

OPENINGS = ("报警人称", "来电人反映", "银行柜面发现", "群众到所反映", "受害人自述", "预警显示")
CLOSINGS = ("请尽快核实。", "对方仍在联系。", "受害人情绪激动。", "家属已知情。", "", "")
STORY_BITS = {
    "order_brushing": (
        "在兼职群接单刷单",
        "对方要求继续做任务",
        "已垫付多笔",
        "称连单后才能返利",
        "点赞关注可得佣金",
    ),
    "investment": ("被拉入炒股交流群", "所谓老师带单稳赚", "在投资平台充值", "准备追加投资", "购买虚拟币"),
    "loan": (
        "在网贷APP申请贷款",
        "被要求缴纳解冻金",
        "称流水不足不能放款",
        "先交保证金才放款",
        "无抵押低息贷款",
    ),
    "fake_customer_service": (
        "对方冒充快递客服",
        "称包裹丢失理赔",
        "要求关闭百万保障",
        "诱导下载会议软件",
        "称商品质量问题退款",
    ),
    "impersonate_authority": (
        "对方冒充公安",
        "称涉嫌洗钱被通缉",
        "要求转入安全账户",
        "配合资金清查",
        "发来逮捕令",
    ),
    "fake_credit": (
        "对方称征信有问题",
        "要求注销校园贷账户",
        "否则影响征信",
        "转账消除不良记录",
        "冒充金融监管工作人员",
    ),
    "fake_shopping": (
        "在二手平台购物",
        "被引导站外私下交易",
        "代购低价商品",
        "付定金后不发货",
        "购买演唱会门票",
    ),
    "impersonate_acquaintance": (
        "对方冒充单位领导",
        "添加QQ好友",
        "要求代为转账",
        "冒充老同学借钱",
        "称换号了急用",
    ),
    "game_trading": ("交易游戏账号", "购买游戏装备", "被要求缴纳保证金解冻", "出售游戏币", "代练充值点券"),
    "romance": (
        "与网恋对象交往数月",
        "未曾见面的网友",
        "对方推荐博彩平台",
        "婚恋网站认识的男朋友",
        "以生病急用为由要钱",
    ),
}


def description(rng: random.Random, scam_type: str) -> str:
    bits = rng.sample(STORY_BITS[scam_type], k=rng.randint(1, 3))
    return f"{rng.choice(OPENINGS)}{'，'.join(bits)}。{rng.choice(CLOSINGS)}"


def labelled_set(n: int, seed: int = 2026) -> list[tuple[str, str]]:
    """`n` (description, scam type) pairs, the types in turn."""
    rng = random.Random(seed)  # noqa: S311  (synthetic text, not cryptography)
    types = list(STORY_BITS)
    return [(description(rng, types[i % len(types)]), types[i % len(types)]) for i in range(n)]
