"""Deterministic product and SKU catalogue of a sandbox shop, plus the fixed vocabularies
(categories, spec values, addresses, carriers) the order generator draws from.

The catalogue is small (thousands of rows), so plain objects are fine here; only orders
need columnar storage.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .constants import DAY, PRODUCT_ID_BASE, SKU_ID_BASE
from .hashing import mix


@dataclass(frozen=True)
class Category:
    cids: tuple[int, int, int]
    cnames: tuple[str, str, str]
    bases: tuple[str, ...]
    specs: tuple[tuple[str, tuple[str, ...]], ...]
    price_range: tuple[int, int]


CATEGORIES: tuple[Category, ...] = (
    Category((20000, 20010, 20011), ("服饰内衣", "男装", "T恤"),
             ("纯棉短袖T恤", "冰丝速干T恤", "重磅纯棉圆领T恤", "宽松落肩短袖"),
             (("颜色", ("白色", "黑色", "灰色", "藏青色", "卡其色")), ("尺码", ("S", "M", "L", "XL", "XXL"))),
             (3900, 12900)),
    Category((20000, 20020, 20021), ("服饰内衣", "女装", "连衣裙"),
             ("碎花雪纺连衣裙", "法式收腰连衣裙", "针织长袖连衣裙"),
             (("颜色", ("杏色", "黑色", "雾霾蓝", "酒红色")), ("尺码", ("S", "M", "L", "XL"))),
             (8900, 29900)),
    Category((30000, 30010, 30011), ("食品饮料", "休闲零食", "坚果炒货"),
             ("每日坚果混合装", "原味夏威夷果", "手剥巴旦木", "盐焗腰果"),
             (("净含量", ("250g", "500g", "1kg")), ("口味", ("原味", "奶油味", "椒盐味"))),
             (1990, 9900)),
    Category((30000, 30020, 30021), ("食品饮料", "茶叶", "绿茶"),
             ("明前西湖龙井", "信阳毛尖", "洞庭碧螺春"),
             (("规格", ("50g罐装", "100g礼盒", "250g袋装")),),
             (5900, 39900)),
    Category((40000, 40010, 40011), ("美妆护肤", "面部护肤", "精华"),
             ("玻尿酸保湿精华液", "烟酰胺亮肤精华", "修护舒缓精华"),
             (("容量", ("30ml", "50ml", "100ml")),),
             (9900, 49900)),
    Category((50000, 50010, 50011), ("个护家清", "洗发护发", "洗发水"),
             ("氨基酸控油洗发水", "去屑止痒洗发露"),
             (("容量", ("400ml", "750ml", "1L家庭装")), ("香型", ("清新薄荷", "玫瑰", "无香"))),
             (2990, 8990)),
    Category((60000, 60010, 60011), ("家居日用", "床上用品", "四件套"),
             ("全棉磨毛四件套", "天丝刺绣床品四件套"),
             (("尺寸", ("1.5m床", "1.8m床", "2.0m床")), ("颜色", ("奶白", "浅灰", "雾粉"))),
             (15900, 59900)),
    Category((70000, 70010, 70011), ("数码配件", "手机配件", "充电器"),
             ("氮化镓快充充电器", "磁吸无线充电宝", "编织快充数据线"),
             (("规格", ("20W", "30W", "65W")), ("颜色", ("白色", "黑色"))),
             (2990, 19900)),
    Category((80000, 80010, 80011), ("母婴", "婴童用品", "纸尿裤"),
             ("超薄透气纸尿裤", "婴儿拉拉裤"),
             (("尺码", ("S", "M", "L", "XL", "XXL")),),
             (6900, 19900)),
    Category((90000, 90010, 90011), ("运动户外", "运动鞋", "跑步鞋"),
             ("轻量缓震跑步鞋", "透气网面运动鞋"),
             (("颜色", ("白色", "黑色", "荧光绿")), ("尺码", ("38", "39", "40", "41", "42", "43"))),
             (19900, 59900)),
)  # fmt: skip

NAME_PREFIXES = ("", "2025夏季新款 ", "【官方旗舰】", "加厚 ", "简约 ", "爆款 ")
NAME_SUFFIXES = ("", " 男女同款", " 家用", " 大容量", " 热卖")

ADDRESSES: tuple[tuple[tuple[str, str], tuple[str, str], tuple[str, str], tuple[str, str], str], ...] = (
    (
        ("33", "浙江省"),
        ("330100", "杭州市"),
        ("330106", "西湖区"),
        ("330106004", "西溪街道"),
        "文三路**号***室",
    ),
    (
        ("44", "广东省"),
        ("440300", "深圳市"),
        ("440305", "南山区"),
        ("440305007", "粤海街道"),
        "科技园南区***栋",
    ),
    (
        ("11", "北京市"),
        ("110100", "北京市"),
        ("110105", "朝阳区"),
        ("110105019", "望京街道"),
        "阜通东大街**号",
    ),
    (
        ("31", "上海市"),
        ("310100", "上海市"),
        ("310115", "浦东新区"),
        ("310115125", "张江镇"),
        "碧波路***弄**号",
    ),
    (
        ("51", "四川省"),
        ("510100", "成都市"),
        ("510107", "武侯区"),
        ("510107001", "浆洗街街道"),
        "洗面桥街**号",
    ),
    (("32", "江苏省"), ("320100", "南京市"), ("320106", "鼓楼区"), ("320106001", "湖南路街道"), "狮子桥**号"),
    (
        ("42", "湖北省"),
        ("420100", "武汉市"),
        ("420111", "洪山区"),
        ("420111009", "关山街道"),
        "光谷大道***号",
    ),
    (
        ("37", "山东省"),
        ("370200", "青岛市"),
        ("370202", "市南区"),
        ("370202010", "八大关街道"),
        "山海关路*号",
    ),
)

CARRIERS = (
    ("shunfeng", "顺丰速运", "SF"),
    ("zhongtong", "中通快递", "7315"),
    ("yuantong", "圆通速递", "YT"),
    ("yunda", "韵达快递", "4330"),
    ("jtexpress", "极兔速递", "JT"),
)
BUYER_WORDS = ("", "", "", "", "请尽快发货", "麻烦包装好一点，送人的", "不要放快递柜", "发顺丰谢谢")


@dataclass
class Sku:
    """One SKU; ``stock_num`` is mutable (orders decrement it, the control API sets it)."""

    sku_id: int
    product_index: int
    code: str
    out_sku_id: int
    price: int
    stock_num: int
    spec: tuple[tuple[str, str], ...]
    spec_detail_ids: tuple[int, ...]
    create_time: int


@dataclass
class Product:
    product_id: int
    name: str
    category: Category
    status: int
    check_status: int
    create_time: int
    update_time: int
    outer_product_id: str
    spec_id: int
    sku_indexes: list[int] = field(default_factory=list)
    sell_num: int = 0

    @property
    def cos_ratio(self) -> int:
        """The 精选联盟 commission rate in percent a 达人 earns on this product (10-25)."""
        return (10, 15, 20, 25)[mix(self.product_id, 0xC05) % 4]


def build_catalog(seed: int, shop_no: int, count: int, start: int) -> tuple[list[Product], list[Sku]]:
    """Generate ``count`` products with 1–9 SKUs each; every 50th SKU (2%) starts below 10 units."""
    rng = random.Random(mix(seed, shop_no, 0xCA7A))
    products: list[Product] = []
    skus: list[Sku] = []
    for p in range(count):
        cat = CATEGORIES[rng.randrange(len(CATEGORIES))]
        create = start - rng.randrange(20 * DAY, 200 * DAY)
        status = rng.choices((0, 1, 2), weights=(88, 8, 4))[0]
        product = Product(
            product_id=PRODUCT_ID_BASE + shop_no * 10**13 + p * 10**6 + mix(seed, shop_no, p) % 10**6,
            name=rng.choice(NAME_PREFIXES) + rng.choice(cat.bases) + rng.choice(NAME_SUFFIXES),
            category=cat,
            status=status,
            check_status=3 if status != 1 or rng.random() < 0.5 else 7,
            create_time=create,
            update_time=create + rng.randrange(start - create),
            outer_product_id=f"SP{shop_no:02d}{p:06d}",
            spec_id=1_700_000_000 + shop_no * 10**6 + p,
        )
        low, high = cat.price_range
        base_price = rng.randrange(low, high) // 100 * 100 + 90
        dims = [(name, rng.sample(values, min(len(values), rng.randint(1, 3)))) for name, values in cat.specs]
        combos: list[tuple[tuple[str, str], ...]] = [()]
        for name, values in dims:
            combos = [(*c, (name, v)) for c in combos for v in values]
        for combo in combos:
            s = len(skus)
            low_stock = s % 50 == 3  # exactly 2%, and at least one in any catalogue
            skus.append(Sku(
                sku_id=SKU_ID_BASE + shop_no * 10**13 + s * 10**5 + mix(seed, shop_no, s, 5) % 10**5,
                product_index=p,
                code=f"C{shop_no:02d}{s:07d}",
                out_sku_id=0 if s % 3 else 880_000_000 + s,
                price=base_price + 1000 * len(combo) * (s % 2),
                stock_num=rng.randrange(10) if low_stock else rng.randrange(50, 3000),
                spec=combo,
                spec_detail_ids=tuple(1_760_000_000 + mix(shop_no, s, i) % 10**8 for i in range(len(combo))),
                create_time=create,
            ))  # fmt: skip
            product.sku_indexes.append(s)
        products.append(product)
    return products, skus
