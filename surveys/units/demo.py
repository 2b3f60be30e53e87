"""The demo district's unit tree: streets, communities, departments, teams, windows."""

from __future__ import annotations

import random

from sqlalchemy.engine import Engine
from sqlmodel import Session

from service.progress import progress
from surveys.units.models import Unit, UnitKind

STREETS = [
    ("jianshe", "建设街道", "Jianshe Subdistrict"),
    ("heping", "和平街道", "Heping Subdistrict"),
    ("xinhua", "新华街道", "Xinhua Subdistrict"),
    ("dongfeng", "东风街道", "Dongfeng Subdistrict"),
    ("chaoyang", "朝阳街道", "Chaoyang Subdistrict"),
    ("binhe", "滨河街道", "Binhe Subdistrict"),
    ("wenhua", "文化街道", "Wenhua Subdistrict"),
    ("gongyuan", "公园街道", "Gongyuan Subdistrict"),
    ("nanhu", "南湖街道", "Nanhu Subdistrict"),
    ("beiyuan", "北苑街道", "Beiyuan Subdistrict"),
]
COMMUNITY_NAMES = [
    "幸福",
    "和谐",
    "阳光",
    "翠苑",
    "春晖",
    "绿园",
    "金桥",
    "锦绣",
    "怡景",
    "明珠",
    "长青",
    "康乐",
]
DEPARTMENTS = [
    ("civil", "民政局", "Civil Affairs Bureau"),
    ("hrss", "人力资源和社会保障局", "Human Resources and Social Security Bureau"),
    ("health", "卫生健康委员会", "Health Commission"),
    ("edu", "教育局", "Education Bureau"),
    ("housing", "住房和城乡建设局", "Housing and Urban-Rural Development Bureau"),
    ("transport", "交通运输局", "Transport Bureau"),
    ("env", "生态环境分局", "Ecology and Environment Branch"),
    ("market", "市场监督管理局", "Market Regulation Administration"),
    ("public-security", "公安分局", "Public Security Branch"),
    ("urban", "城市管理局", "Urban Management Bureau"),
    ("water", "水务局", "Water Affairs Bureau"),
    ("culture", "文化和旅游局", "Culture and Tourism Bureau"),
    ("sports", "体育局", "Sports Bureau"),
    ("medical-insurance", "医疗保障局", "Medical Insurance Bureau"),
    ("veterans", "退役军人事务局", "Veterans Affairs Bureau"),
    ("emergency", "应急管理局", "Emergency Management Bureau"),
    ("justice", "司法局", "Justice Bureau"),
    ("finance", "财政局", "Finance Bureau"),
    ("commerce", "商务局", "Commerce Bureau"),
    ("agri", "农业农村局", "Agriculture and Rural Affairs Bureau"),
    ("natural-resources", "自然资源分局", "Natural Resources Branch"),
    ("stats", "统计局", "Statistics Bureau"),
    ("audit", "审计局", "Audit Bureau"),
    ("petitions", "信访局", "Letters and Visits Bureau"),
    ("data", "政务服务和数据管理局", "Government Services and Data Administration"),
    ("science", "科学技术局", "Science and Technology Bureau"),
    ("dev-reform", "发展和改革局", "Development and Reform Bureau"),
    ("housing-security", "住房保障中心", "Housing Security Centre"),
    ("fire", "消防救援大队", "Fire and Rescue Brigade"),
    ("tax", "税务局", "Taxation Bureau"),
]
WINDOWS = [
    ("hall-social", "政务服务中心·社保窗口", "Service Centre: Social Insurance Window"),
    ("hall-business", "政务服务中心·企业开办窗口", "Service Centre: Business Registration Window"),
    ("hall-housing", "政务服务中心·不动产登记窗口", "Service Centre: Property Registration Window"),
    ("hall-medical", "政务服务中心·医保窗口", "Service Centre: Medical Insurance Window"),
    ("hall-household", "政务服务中心·户政窗口", "Service Centre: Household Registration Window"),
    ("hotline-12345", "12345政务服务便民热线", "12345 Citizen Service Hotline"),
]


def build(*, engine: Engine, rng: random.Random, responses: int) -> None:
    """Create the district, its 10 streets with 4 communities each, 30 departments, teams, windows."""
    with Session(engine) as s, progress("units", 1 + 10 * 6 + 30 + 6) as p:
        district = Unit(
            code="district", name="示范区", name_en="Demo District", kind=UnitKind.district
        )
        s.add(district)
        s.flush()
        p.advance()
        names = list(COMMUNITY_NAMES)
        for i, (code, name, name_en) in enumerate(STREETS):
            street = Unit(
                code=f"street-{code}",
                name=name,
                name_en=name_en,
                kind=UnitKind.street,
                parent_id=district.id,
            )
            s.add(street)
            s.flush()
            team = Unit(
                code=f"team-{code}",
                name=f"{name}领导班子",
                name_en=f"{name_en} Leadership Team",
                kind=UnitKind.leadership_team,
                parent_id=street.id,
            )
            s.add(team)
            p.advance(2)
            for j in range(4):
                cname = names[(i * 4 + j) % len(names)]
                s.add(
                    Unit(
                        code=f"comm-{code}-{j + 1}",
                        name=f"{name[:2]}{cname}社区",
                        name_en=f"{name_en.split()[0]} {j + 1} Community",
                        kind=UnitKind.community,
                        parent_id=street.id,
                    )
                )
                p.advance()
        for code, name, name_en in DEPARTMENTS:
            s.add(
                Unit(
                    code=f"dept-{code}",
                    name=name,
                    name_en=name_en,
                    kind=UnitKind.department,
                    parent_id=district.id,
                )
            )
            p.advance()
        for code, name, name_en in WINDOWS:
            s.add(
                Unit(
                    code=f"win-{code}",
                    name=name,
                    name_en=name_en,
                    kind=UnitKind.service_window,
                    parent_id=district.id,
                )
            )
            p.advance()
        s.commit()
