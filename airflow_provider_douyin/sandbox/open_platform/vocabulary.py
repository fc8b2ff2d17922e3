"""Fixed vocabularies of the generated 抖音来客 merchants: brands, districts, deals, buyers."""

from __future__ import annotations

DISTRICTS = (
    "万达广场店",
    "国贸店",
    "西湖银泰店",
    "春熙路店",
    "解放碑店",
    "五角场店",
    "天河城店",
    "望京SOHO店",
)
CITIES = ("北京", "上海", "杭州", "成都", "重庆", "广州")

# (category_id, category_full_name, deal names, price range in fen)
CATEGORIES: tuple[tuple[int, str, tuple[str, ...], tuple[int, int]], ...] = (
    (1001001, "美食-火锅", ("双人套餐", "四人欢聚餐", "招牌锅底代金券"), (8800, 39800)),
    (1001002, "美食-川湘菜", ("单人午市套餐", "招牌烤鱼套餐", "100元代金券"), (2900, 19800)),
    (1001003, "美食-饮品", ("下午茶双杯套餐", "鲜果茶买一送一", "季节限定单杯"), (990, 4990)),
    (1003001, "休闲娱乐-KTV", ("欢唱3小时", "小包夜场套餐"), (6800, 29800)),
    (1003002, "休闲娱乐-电影", ("2D单人观影券", "双人观影+爆米花套餐"), (2990, 9990)),
    (1004001, "丽人-足疗按摩", ("60分钟足疗", "90分钟全身按摩"), (9800, 29800)),
)
# (brand, indexes into CATEGORIES of the deals it sells)
BRANDS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("川味小馆", (1, 2)),
    ("鲜果茶坊", (2,)),
    ("悦享火锅", (0, 2)),
    ("湘遇餐厅", (1, 2)),
    ("星光影城", (4, 2)),
    ("欢乐KTV", (3, 2)),
    ("足道养生馆", (5,)),
)
NAME_PREFIXES = ("", "【爆款】", "【周末可用】", "【新店特惠】")
SURNAMES = "王李张刘陈杨黄赵吴周"
REFUND_REASONS = ("计划有变", "买多了", "商家营业时间不合适", "其他")
