"""Writes `en.json`, `de.json`, `zh.json`: the bundled extractive-QA sample (SQuAD v2.0 shape).

Written for lingbridge: four kinds of short encyclopedia paragraphs (a town, an inventor, a
company, a festival) about invented people and places, each rendered in English, German and
Chinese from the same facts, so the three files are parallel (as XQuAD is). Each paragraph has
answerable questions (answers are character spans, several gold spans where a name recurs) and
one unanswerable question (SQuAD v2.0's `is_impossible`). Some paragraphs get extra sentences
so that a context is longer than a tiny model's `max_seq_length` and must be split with a stride.

Run from the repository root to regenerate (deterministic): `python scripts/build_qa_sample.py`.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

LANGS = ("en", "de", "zh")

PEOPLE = [  # (name, German gender, Chinese)
    ("Anna Berg", "f", "安娜·伯格"), ("Tomas Lind", "m", "托马斯·林德"), ("Clara Weiss", "f", "克拉拉·魏斯"),
    ("Jonas Falk", "m", "约纳斯·法尔克"), ("Mira Holt", "f", "米拉·霍尔特"), ("Elias Brandt", "m", "埃利亚斯·勃兰特"),
    ("Lena Sommer", "f", "莱娜·佐默"), ("Paul Winter", "m", "保罗·温特"), ("Sofia Kranz", "f", "索菲亚·克兰茨"),
    ("Oskar Vogel", "m", "奥斯卡·福格尔"), ("Ida Marsh", "f", "艾达·马什"), ("Felix Storm", "m", "费利克斯·斯托姆"),
    ("Greta Lund", "f", "格蕾塔·伦德"), ("Hugo Stein", "m", "雨果·施泰因"), ("Nora Keller", "f", "诺拉·凯勒"),
    ("Viktor Hahn", "m", "维克托·哈恩"), ("Alma Ruud", "f", "阿尔玛·鲁德"), ("Karl Dorn", "m", "卡尔·多恩"),
]
TOWNS = [("Elmsford", "埃尔姆斯福德"), ("Brackwater", "布拉克沃特"), ("Lindholm", "林德霍尔姆"), ("Karsby", "卡尔斯比"),
         ("Odenmoor", "奥登穆尔"), ("Fennick", "芬尼克"), ("Tarrow", "塔罗"), ("Wexley", "韦克斯利"),
         ("Haldenberg", "哈尔登堡"), ("Mirefield", "米尔菲尔德"), ("Ostervik", "奥斯特维克"), ("Greyhaven", "格雷黑文"),
         ("Saltcombe", "索尔特科姆"), ("Pellworth", "佩尔沃斯"), ("Runmere", "伦米尔"), ("Ashby Vale", "阿什比谷")]
RIVERS = [("Lusk", "卢斯克"), ("Brenna", "布伦纳"), ("Vessa", "韦萨"), ("Kell", "凯尔"), ("Orla", "奥拉"), ("Tamsin", "塔姆辛")]
PROFESSIONS = [  # (English, German masculine, German feminine, Chinese)
    ("fisherman", "einem Fischer", "einer Fischerin", "渔夫"), ("blacksmith", "einem Schmied", "einer Schmiedin", "铁匠"),
    ("merchant", "einem Händler", "einer Händlerin", "商人"), ("miller", "einem Müller", "einer Müllerin", "磨坊主"),
    ("sailor", "einem Seemann", "einer Seefahrerin", "水手")]
PRODUCTS_TOWN = [("honey", "Honig", "蜂蜜"), ("wool blankets", "Wolldecken", "羊毛毯"), ("pottery", "Keramik", "陶器"),
                 ("apple cider", "Apfelwein", "苹果酒"), ("smoked cheese", "Räucherkäse", "烟熏奶酪"),
                 ("glass beads", "Glasperlen", "玻璃珠"), ("rye bread", "Roggenbrot", "黑麦面包"), ("lavender soap", "Lavendelseife", "薰衣草皂")]
DAYS = [("Monday", "Montag", "星期一"), ("Tuesday", "Dienstag", "星期二"), ("Wednesday", "Mittwoch", "星期三"),
        ("Thursday", "Donnerstag", "星期四"), ("Friday", "Freitag", "星期五"), ("Saturday", "Samstag", "星期六")]
INVENTIONS = [  # (English, German accusative with article, Chinese)
    ("sewing machine", "die erste Nähmaschine", "缝纫机"), ("water filter", "den ersten Wasserfilter", "滤水器"),
    ("radio receiver", "den ersten Funkempfänger", "无线电接收机"), ("bicycle lamp", "die erste Fahrradlampe", "自行车灯"),
    ("solar oven", "den ersten Solarofen", "太阳能灶"), ("weather balloon", "den ersten Wetterballon", "气象气球"),
    ("pocket calculator", "den ersten Taschenrechner", "袖珍计算器"), ("hearing aid", "das erste Hörgerät", "助听器"),
    ("map printing press", "die erste Kartendruckpresse", "地图印刷机"), ("electric kettle", "den ersten elektrischen Wasserkocher", "电水壶"),
    ("typewriter", "die erste Schreibmaschine", "打字机"), ("ice machine", "die erste Eismaschine", "制冰机"),
]
MATERIALS = [("copper", "Kupfer", "铜"), ("glass", "Glas", "玻璃"), ("bamboo", "Bambus", "竹子"), ("steel", "Stahl", "钢"),
             ("clay", "Ton", "陶土"), ("wood", "Holz", "木头"), ("aluminium", "Aluminium", "铝"), ("brass", "Messing", "黄铜")]
PRIZES = [("Halden", "哈尔登"), ("Aurora", "极光"), ("Meridian", "子午线"), ("Corvin", "科尔文"), ("Lumen", "流明")]
COMPANIES = [("Northlight Works", "北光工坊"), ("Bluefin Trading", "蓝鳍贸易"), ("Copperleaf", "铜叶公司"),
             ("Ravenstone", "鸦石公司"), ("Silverbirch", "银桦公司"), ("Oakline", "橡线公司"), ("Brightwell", "亮泉公司"),
             ("Hollow Pine", "空松公司"), ("Redkite", "红鸢公司"), ("Fairwind", "顺风公司"), ("Stonebridge", "石桥公司"),
             ("Greenhollow", "绿谷公司")]
PLACES = [("market", "auf einem Markt", "集市上"), ("concert", "auf einem Konzert", "音乐会上"), ("ship", "auf einem Schiff", "船上"),
          ("wedding", "auf einer Hochzeit", "婚礼上"), ("train", "in einem Zug", "火车上")]
GOODS = [("bicycles", "Fahrräder", "自行车"), ("umbrellas", "Regenschirme", "雨伞"), ("toys", "Spielzeug", "玩具"),
         ("lamps", "Lampen", "台灯"), ("shoes", "Schuhe", "鞋子"), ("radios", "Radios", "收音机"), ("clocks", "Uhren", "钟表"),
         ("tents", "Zelte", "帐篷"), ("paper", "Papier", "纸张"), ("kitchen knives", "Küchenmesser", "菜刀")]
COUNTRIES = [("Canada", "Kanada", "加拿大"), ("Japan", "Japan", "日本"), ("Brazil", "Brasilien", "巴西"),
             ("Norway", "Norwegen", "挪威"), ("Italy", "Italien", "意大利"), ("Kenya", "Kenia", "肯尼亚"),
             ("Chile", "Chile", "智利"), ("Poland", "Polen", "波兰")]
FESTIVALS = [("Blue Moon Festival", "Blaumondfest", "蓝月节"), ("Harvest Light Festival", "Erntelichterfest", "丰收灯节"),
             ("River Song Festival", "Flussliedfest", "河歌节"), ("Golden Leaf Festival", "Goldblattfest", "金叶节"),
             ("Winter Bell Festival", "Winterglockenfest", "冬铃节"), ("Kite Festival", "Drachenfest", "风筝节"),
             ("Salt Festival", "Salzfest", "盐节"), ("Cherry Festival", "Kirschenfest", "樱桃节"),
             ("Lantern Boat Festival", "Laternenbootfest", "灯船节"), ("Stone Soup Festival", "Steinsuppenfest", "石头汤节"),
             ("Bread Festival", "Brotfest", "面包节"), ("Owl Festival", "Eulenfest", "猫头鹰节")]
MONTHS = [("March", "März", "三月"), ("April", "April", "四月"), ("May", "Mai", "五月"), ("June", "Juni", "六月"),
          ("July", "Juli", "七月"), ("August", "August", "八月"), ("September", "September", "九月"), ("October", "Oktober", "十月")]
EVENTS = [("a small concert", "ein kleines Konzert", "一场小型音乐会"), ("a dinner in the street", "ein Abendessen auf der Straße", "一场街头晚宴"),
          ("a boat race", "ein Bootsrennen", "一场划船比赛"), ("a night market", "einen Nachtmarkt", "一场夜市")]
HIGHLIGHTS = [("fireworks over the lake", "Feuerwerk über dem See", "湖上的烟花"),
              ("parade of paper lanterns", "Umzug mit Papierlaternen", "纸灯笼游行"),
              ("choir of a hundred voices", "Chor mit hundert Stimmen", "百人合唱"),
              ("race of wooden boats", "Rennen der Holzboote", "木船比赛"),
              ("bonfire on the beach", "Lagerfeuer am Strand", "海滩上的篝火")]

# Extra sentences without facts that questions ask about: they make some contexts long.
FILLERS = {
    "town": [("In summer, visitors walk along the river and rest in the shade of the old willows.",
              "Im Sommer spazieren Besucher am Fluss entlang und ruhen sich im Schatten der alten Weiden aus.",
              "夏天，游客沿着河边散步，在老柳树的树荫下休息。"),
             ("The narrow streets are paved with grey stones, and many houses still have wooden shutters painted green.",
              "Die engen Gassen sind mit grauen Steinen gepflastert, und viele Häuser haben noch grün gestrichene Fensterläden aus Holz.",
              "狭窄的街道铺着灰色的石头，许多房子仍然有漆成绿色的木制百叶窗。")],
    "inventor": [("Friends remembered a patient person who worked late into the night and kept careful notebooks.",
                  "Freunde erinnerten sich an einen geduldigen Menschen, der bis spät in die Nacht arbeitete und sorgfältige Notizbücher führte.",
                  "朋友们记得这是一个耐心的人，常常工作到深夜，并认真地记笔记。"),
                 ("Several early versions failed because the parts were too heavy or broke in cold weather.",
                  "Mehrere frühe Versionen scheiterten, weil die Teile zu schwer waren oder bei Kälte zerbrachen.",
                  "早期的几个版本都失败了，因为零件太重，或者在寒冷的天气里会断裂。")],
    "company": [("The first workshop was a rented barn with a leaking roof and a single stove.",
                 "Die erste Werkstatt war eine gemietete Scheune mit undichtem Dach und einem einzigen Ofen.",
                 "第一间作坊是一座租来的谷仓，屋顶漏雨，只有一个炉子。"),
                ("Customers often praise the simple design and the long guarantee.",
                 "Kunden loben oft das schlichte Design und die lange Garantie.",
                 "顾客常常称赞其简洁的设计和较长的保修期。")],
    "festival": [("Families bring blankets and baskets of food, and children paint their faces in bright colours.",
                  "Familien bringen Decken und Körbe mit Essen mit, und Kinder bemalen ihre Gesichter in leuchtenden Farben.",
                  "一家人带着毯子和装满食物的篮子前来，孩子们把脸涂成鲜艳的颜色。"),
                 ("Local bands play on small stages set up in the squares and along the harbour.",
                  "Örtliche Bands spielen auf kleinen Bühnen, die auf den Plätzen und am Hafen aufgebaut werden.",
                  "当地乐队在广场上和港口边搭起的小舞台上演出。")],
}

# Templates: `{slot}` is filled from the facts; answers name the slot whose span is the answer.
TEMPLATES = {
    "town": {
        "en": ["{town} is a small town on the {river} River.", "It was founded in {y1} by {person}, a {prof} from the coast.",
               "The old stone bridge in the centre was built in {y2}.", "Today about {pop} people live in {town}.",
               "The town is best known for its {product}, which is sold at the market every {day}."],
        "de": ["{town} ist eine kleine Stadt am Fluss {river}.", "Sie wurde im Jahr {y1} von {person} gegründet, {prof} von der Küste.",
               "Die alte Steinbrücke im Zentrum wurde {y2} gebaut.", "Heute leben etwa {pop} Menschen in {town}.",
               "Bekannt ist die Stadt vor allem für {product}, und jeden {day} ist dort Markttag."],
        "zh": ["{town}是{river}河畔的一座小城。", "它由来自海边的{prof}{person}于{y1}年建立。", "市中心的老石桥建于{y2}年。",
               "如今约有{pop}人住在{town}。", "这座小城最有名的是{product}，每逢{day}都会在集市上出售。"],
        "questions": [
            ("y1", "When was {town} founded?", "Wann wurde {town} gegründet?", "{town}是哪一年建立的？"),
            ("person", "Who founded {town}?", "Wer hat {town} gegründet?", "谁建立了{town}？"),
            ("y2", "When was the stone bridge in {town} built?", "Wann wurde die Steinbrücke in {town} gebaut?", "{town}的老石桥是哪一年建成的？"),
            ("river", "On which river does {town} lie?", "An welchem Fluss liegt {town}?", "{town}位于哪条河畔？"),
            ("pop", "How many people live in {town} today?", "Wie viele Menschen leben heute in {town}?", "如今有多少人住在{town}？"),
            ("product", "What is {town} best known for?", "Wofür ist {town} vor allem bekannt?", "{town}最有名的是什么？"),
            ("day", "On which day is the market held in {town}?", "An welchem Tag ist in {town} Markttag?", "{town}的集市在星期几？"),
        ],
        "impossible": [("Who is the mayor of {town}?", "Wer ist der Bürgermeister von {town}?", "{town}的市长是谁？"),
                       ("What is the name of the school in {town}?", "Wie heißt die Schule in {town}?", "{town}的学校叫什么名字？")],
    },
    "inventor": {
        "en": ["{person} was an inventor from {city}, born in {y1}.",
               "After studying at the {uni_full}, {surname} built the first {inv} in {y2}.",
               "The machine used {mat1} instead of {mat2}, which made it cheaper and lighter.",
               "In {y3}, {surname} received the {prize_full} for this work."],
        "de": ["{person} war {inventor_de} aus {city}, geboren im Jahr {y1}.",
               "Nach dem Studium an der {uni_full} baute {surname} im Jahr {y2} {inv}.",
               "Die Maschine nutzte {mat1} statt {mat2} und war dadurch billiger und leichter.",
               "{y3} erhielt {surname} für diese Arbeit den {prize_full}."],
        "zh": ["{person}是来自{city}的发明家，生于{y1}年。", "在{uni_full}学习之后，{surname}于{y2}年制造了第一台{inv}。",
               "这台机器用{mat1}代替了{mat2}，因此更便宜、更轻。", "{y3}年，{surname}凭借这项工作获得了{prize_full}。"],
        "questions": [
            ("city", "Where did {person} come from?", "Woher kam {person}?", "{person}来自哪里？"),
            ("y1", "When was {person} born?", "Wann wurde {person} geboren?", "{person}生于哪一年？"),
            ("uni_full", "Where did {surname} study?", "Wo studierte {surname}?", "{surname}在哪里学习？"),
            ("person+surname", "Who built the first {inv}?", "Wer baute {inv}?", "谁制造了第一台{inv}？"),
            ("y2", "When did {surname} build the first {inv}?", "Wann baute {surname} {inv}?", "{surname}哪一年制造了第一台{inv}？"),
            ("mat1", "What did the machine use instead of {mat2}?", "Was nutzte die Maschine statt {mat2}?", "这台机器用什么代替了{mat2}？"),
            ("prize_full", "Which prize did {surname} receive?", "Welchen Preis erhielt {surname}?", "{surname}获得了什么奖？"),
            ("y3", "In which year did {surname} receive the {prize_full}?", "In welchem Jahr erhielt {surname} den {prize_full}?",
             "{surname}哪一年获得了{prize_full}？"),
        ],
        "impossible": [("When did {person} die?", "Wann starb {person}?", "{person}是哪一年去世的？"),
                       ("Who was the teacher of {surname}?", "Wer war der Lehrer von {surname}?", "{surname}的老师是谁？")],
    },
    "company": {
        "en": ["{company} is a company based in {city}.", "It was started in {y1} by {person} and {person2}, who had met on a {place}.",
               "The firm first made {goods1}, but since {y2} it has mainly produced {goods2}.",
               "It now employs {n} people and sells most of its goods in {country}."],
        "de": ["{company} ist ein Unternehmen mit Sitz in {city}.",
               "Es wurde {y1} von {person} und {person2} gegründet, die sich {place} kennengelernt hatten.",
               "Die Firma stellte zuerst {goods1} her, doch seit {y2} produziert sie vor allem {goods2}.",
               "Heute beschäftigt sie {n} Menschen und verkauft die meisten Waren in {country}."],
        "zh": ["{company}是一家总部位于{city}的公司。", "{y1}年，{person}和{person2}在{place}相识后创办了这家公司。",
               "公司最初生产{goods1}，但自{y2}年起主要生产{goods2}。", "目前公司有{n}名员工，大部分产品销往{country}。"],
        "questions": [
            ("city", "Where is {company} based?", "Wo hat {company} seinen Sitz?", "{company}的总部在哪里？"),
            ("y1", "When was {company} started?", "Wann wurde {company} gegründet?", "{company}是哪一年创办的？"),
            ("person", "Who started {company} together with {person2}?", "Wer gründete {company} zusammen mit {person2}?",
             "谁和{person2}一起创办了{company}？"),
            ("goods1", "What did {company} make at first?", "Was stellte {company} zuerst her?", "{company}最初生产什么？"),
            ("goods2", "What has {company} mainly produced since {y2}?", "Was produziert {company} seit {y2} vor allem?",
             "{company}自{y2}年起主要生产什么？"),
            ("n", "How many people does {company} employ?", "Wie viele Menschen beschäftigt {company}?", "{company}有多少名员工？"),
            ("country", "Where does {company} sell most of its goods?", "Wo verkauft {company} die meisten Waren?",
             "{company}的大部分产品销往哪里？"),
        ],
        "impossible": [("How much profit did {company} make last year?", "Wie viel Gewinn machte {company} im letzten Jahr?",
                        "{company}去年的利润是多少？"),
                       ("Who runs {company} today?", "Wer leitet {company} heute?", "{company}现在由谁管理？")],
    },
    "festival": {
        "en": ["The {fest} is held every year in {town} in {month}.",
               "It began in {y1}, when {person} organised {event} for the neighbours.",
               "Today the festival lasts {days} days and attracts around {visitors} visitors.",
               "The highlight is the {highlight} on the last evening."],
        "de": ["Das {fest} findet jedes Jahr im {month} in {town} statt.",
               "Es begann {y1}, als {person} für die Nachbarn {event} veranstaltete.",
               "Heute dauert das Fest {days} Tage und zieht rund {visitors} Besucher an.",
               "Der Höhepunkt ist das {highlight} am letzten Abend."],
        "zh": ["{fest}每年{month}在{town}举行。", "这个节日始于{y1}年，当时{person}为邻居们举办了{event}。",
               "如今节日持续{days}天，吸引约{visitors}名游客。", "最精彩的是最后一晚的{highlight}。"],
        "questions": [
            ("person", "Who started the {fest}?", "Wer hat das {fest} ins Leben gerufen?", "谁开创了{fest}？"),
            ("y1", "When did the {fest} begin?", "Wann begann das {fest}?", "{fest}始于哪一年？"),
            ("town", "Where is the {fest} held?", "Wo findet das {fest} statt?", "{fest}在哪里举行？"),
            ("month", "In which month is the {fest} held?", "In welchem Monat findet das {fest} statt?", "{fest}在几月举行？"),
            ("days", "How many days does the {fest} last?", "Wie viele Tage dauert das {fest}?", "{fest}持续几天？"),
            ("visitors", "How many visitors does the {fest} attract?", "Wie viele Besucher zieht das {fest} an?", "{fest}吸引多少名游客？"),
            ("highlight", "What is the highlight of the {fest}?", "Was ist der Höhepunkt beim {fest}?", "{fest}最精彩的是什么？"),
        ],
        "impossible": [("How much does a ticket for the {fest} cost?", "Wie viel kostet eine Karte für das {fest}?",
                        "{fest}的门票多少钱？"),
                       ("Who sponsors the {fest}?", "Wer sponsert das {fest}?", "谁赞助{fest}？")],
    },
}
PER_KIND = 48  # paragraphs of each kind: 192 per language


def _facts(kind: str, rng: random.Random) -> dict[str, tuple[str, str, str]]:
    """Slot → (en, de, zh) for one paragraph."""
    def same(x):
        return (str(x), str(x), str(x))

    def pick(pool):
        return rng.choice(pool)

    p1, p2 = rng.sample(PEOPLE, 2)
    person = (p1[0], p1[0], p1[2])
    y1 = rng.randint(1620, 1890) if kind == "town" else rng.randint(1850, 1990)
    f = {"person": person, "surname": (p1[0].split()[1], p1[0].split()[1], p1[2].split("·")[1]),
         "person2": (p2[0], p2[0], p2[2]), "y1": same(y1)}
    town = pick(TOWNS)
    if kind == "town":
        prof = pick(PROFESSIONS)
        f |= {"town": (town[0], town[0], town[1]), "river": (lambda r: (r[0], r[0], r[1]))(pick(RIVERS)),
              "y2": same(y1 + rng.randint(20, 200)), "pop": same(rng.randrange(1200, 9800, 100)),
              "prof": (prof[0], prof[1] if p1[1] == "m" else prof[2], prof[3]), "product": pick(PRODUCTS_TOWN), "day": pick(DAYS)}
    elif kind == "inventor":
        uni, prize = pick(TOWNS), pick(PRIZES)
        m1, m2 = rng.sample(MATERIALS, 2)
        y2 = y1 + rng.randint(22, 40)
        f |= {"city": (town[0], town[0], town[1]), "inv": pick(INVENTIONS), "mat1": m1, "mat2": m2,
              "uni_full": (f"University of {uni[0]}", f"Universität {uni[0]}", f"{uni[1]}大学"),
              "prize_full": (f"{prize[0]} Prize", f"{prize[0]}-Preis", f"{prize[1]}奖"),
              "y2": same(y2), "y3": same(y2 + rng.randint(2, 15)),
              "inventor_de": ("", "ein Erfinder" if p1[1] == "m" else "eine Erfinderin", "")}
    elif kind == "company":
        c = pick(COMPANIES)
        g1, g2 = rng.sample(GOODS, 2)
        f |= {"company": (c[0], c[0], c[1]), "city": (town[0], town[0], town[1]), "place": pick(PLACES),
              "goods1": g1, "goods2": g2, "y2": same(y1 + rng.randint(5, 30)), "n": same(rng.randrange(40, 2400, 10)),
              "country": pick(COUNTRIES)}
    else:
        fest = pick(FESTIVALS)
        f |= {"fest": fest, "town": (town[0], town[0], town[1]), "month": pick(MONTHS), "event": pick(EVENTS),
              "days": same(rng.randint(2, 9)), "visitors": same(rng.randrange(800, 40000, 100)), "highlight": pick(HIGHLIGHTS)}
    return f


def _render(template: str, values: dict[str, str], offset: int, spans: dict[str, list[int]]) -> str:
    """Fill `{slot}`s, recording where each slot's value starts in the whole context."""
    out, pos = [], 0
    for m in re.finditer(r"\{(\w+)\}", template):
        out.append(template[pos:m.start()])
        start = offset + sum(len(x) for x in out)
        spans.setdefault(m.group(1), []).append(start)
        out.append(values[m.group(1)])
        pos = m.end()
    out.append(template[pos:])
    return "".join(out)


def build() -> dict[str, dict]:
    rng = random.Random(20261128)
    articles = {lang: [] for lang in LANGS}
    for kind in TEMPLATES:
        spec = TEMPLATES[kind]
        for k in range(PER_KIND):
            item = f"{kind}-{k + 1:02d}"
            facts = _facts(kind, rng)
            questions = rng.sample(spec["questions"], 4 if rng.random() < 0.5 else 5)
            impossible = rng.choice(spec["impossible"])
            sentences = list(range(len(spec["en"])))
            fillers = rng.sample(FILLERS[kind], rng.choice([0, 1, 2]))
            order = sentences[:]
            for filler in fillers:  # fillers go between fact sentences, so answers land in different windows
                order.insert(rng.randint(1, len(order)), filler)
            for li, lang in enumerate(LANGS):
                values = {slot: v[li] for slot, v in facts.items()}
                spans: dict[str, list[int]] = {}
                parts, offset = [], 0
                sep = "" if lang == "zh" else " "
                for piece in order:
                    text = piece[li] if isinstance(piece, tuple) else _render(spec[lang][piece], values, offset, spans)
                    parts.append(text)
                    offset += len(text) + len(sep)
                context = sep.join(parts)
                qas = []
                for qi, (slot, *qtexts) in enumerate(questions):
                    question = qtexts[li].format(**values)
                    answers = [{"text": values[s], "answer_start": start}
                               for s in slot.split("+") for start in spans[s]]
                    for a in answers:
                        assert context[a["answer_start"]:a["answer_start"] + len(a["text"])] == a["text"], (item, lang, a)
                    qas.append({"id": f"{item}-q{qi + 1}", "question": question, "answers": answers, "is_impossible": False})
                qas.append({"id": f"{item}-u", "question": impossible[li].format(**values), "answers": [],
                            "is_impossible": True})
                articles[lang].append({"title": item, "paragraphs": [{"context": context, "qas": qas}]})
    return {lang: {"version": "v2.0", "language": lang, "data": arts} for lang, arts in articles.items()}


if __name__ == "__main__":
    folder = Path(__file__).resolve().parents[1] / "platform" / "lingbridge" / "sample_data" / "qa"
    for lang, doc in build().items():
        (folder / f"{lang}.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        n_q = sum(len(p["qas"]) for a in doc["data"] for p in a["paragraphs"])
        print(f"{lang}: {len(doc['data'])} paragraphs, {n_q} questions")
