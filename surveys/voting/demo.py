"""The demo district's livelihood projects: 300 deputies, 25 candidate projects voted on in a
published session, residents' proposals, progress on the selected projects, a published
satisfaction grading, and an open 2027 vote to try the ballot page with."""

from __future__ import annotations

import random
import sys
from datetime import date, timedelta

from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from service.auth import hash_password
from service.models import Role, User
from service.progress import progress
from surveys.units.service import unit_by_code
from surveys.voting import service
from surveys.voting.models import (
    BallotIn,
    Project,
    ProjectCreate,
    ProjectUpdateCreate,
    Proposal,
    ProposalCreate,
    ProposalStatus,
    ProposalSupport,
    SessionCreate,
    SessionKind,
)

DEPUTY_PASSWORD = "minyi-deputy-demo"  # demo data only; documented in docs/voting.md
DEPUTIES = 300

# (title, title_en, category, budget in yuan, sponsor department code, street code, popularity,
#  description)
PROJECTS: list[tuple[str, str, str, int, str, str, float, str]] = [
    (
        "老旧小区加装电梯",
        "Lifts for old residential buildings",
        "住房",
        4_800_000,
        "housing",
        "jianshe",
        0.86,
        "为 12 栋六层以上老旧住宅加装电梯，居民按楼层分摊部分费用，政府补贴其余部分。",
    ),
    (
        "社区老年助餐点",
        "Community canteens for the elderly",
        "养老",
        1_600_000,
        "civil",
        "heping",
        0.91,
        "新建 8 个社区老年助餐点，为 75 岁以上老人提供每餐 8 元的午餐，行动不便者可送餐上门。",
    ),
    (
        "中小学校门口交通安全改造",
        "Safer streets at school gates",
        "交通",
        2_300_000,
        "transport",
        "xinhua",
        0.83,
        "在 15 所中小学校门口设置护学通道、减速带和接送临时停车位，上下学高峰安排志愿者值守。",
    ),
    (
        "社区卫生服务站标准化建设",
        "Community clinics brought up to standard",
        "医疗",
        3_500_000,
        "health",
        "dongfeng",
        0.79,
        "改造 6 个社区卫生服务站，配齐常用检查设备，开设慢病随访和家庭医生签约服务。",
    ),
    (
        "口袋公园建设",
        "Pocket parks",
        "环境",
        2_900_000,
        "urban",
        "binhe",
        0.74,
        "利用街角边角地新建 10 个口袋公园，增加座椅、绿化和儿童游戏设施。",
    ),
    (
        "背街小巷路面整治",
        "Repaving back streets and alleys",
        "交通",
        3_200_000,
        "urban",
        "wenhua",
        0.71,
        "整治 24 条背街小巷破损路面，同步改造雨污管网和路灯。",
    ),
    (
        "婴幼儿托育服务点",
        "Day care for infants and toddlers",
        "教育",
        2_400_000,
        "health",
        "chaoyang",
        0.68,
        "在 4 个街道建设普惠托育服务点，提供 0 至 3 岁婴幼儿全日托和临时托。",
    ),
    (
        "全民健身步道",
        "Fitness trails",
        "文体",
        1_900_000,
        "sports",
        "gongyuan",
        0.66,
        "沿滨河绿带修建 6 公里健身步道，设置健身器材和饮水点。",
    ),
    (
        "智慧停车改造",
        "Smart parking",
        "交通",
        4_200_000,
        "transport",
        "nanhu",
        0.52,
        "在医院、菜市场周边改造 1200 个智慧停车位，错时共享机关单位停车场。",
    ),
    (
        "生活垃圾分类设施升级",
        "Better waste sorting stations",
        "环境",
        1_700_000,
        "urban",
        "beiyuan",
        0.64,
        "更新 300 个垃圾分类投放点，增设洗手池和除臭设施，定时定点督导。",
    ),
    (
        "社区嵌入式养老服务中心",
        "Neighbourhood elderly care centres",
        "养老",
        4_600_000,
        "civil",
        "jianshe",
        0.77,
        "建设 2 个嵌入式养老服务中心，提供日间照料、短期托养和康复护理。",
    ),
    (
        "农贸市场提档升级",
        "Upgraded farmers' markets",
        "其他",
        2_600_000,
        "market",
        "heping",
        0.58,
        "改造 3 个农贸市场的排水、通风和照明，设置食品安全快检室。",
    ),
    (
        "公共充电桩建设",
        "Public charging points for e-bikes and cars",
        "交通",
        1_500_000,
        "dev-reform",
        "xinhua",
        0.62,
        "在小区和公共停车场新建电动自行车充电桩 2000 个、汽车充电桩 200 个。",
    ),
    (
        "残疾人康复服务站",
        "Rehabilitation for people with disabilities",
        "医疗",
        1_200_000,
        "civil",
        "dongfeng",
        0.73,
        "建设残疾人康复服务站，提供康复训练、辅具适配和居家无障碍改造。",
    ),
    (
        "学校食堂明厨亮灶",
        "Open kitchens in school canteens",
        "教育",
        900_000,
        "edu",
        "chaoyang",
        0.81,
        "为 40 所学校食堂安装视频监控，家长可在手机上查看后厨操作。",
    ),
    (
        "城市书房",
        "Neighbourhood reading rooms",
        "文体",
        1_300_000,
        "culture",
        "binhe",
        0.56,
        "建设 5 个 24 小时城市书房，与区图书馆通借通还。",
    ),
    (
        "积水点改造",
        "Fixing streets that flood",
        "安全",
        3_800_000,
        "water",
        "wenhua",
        0.69,
        "改造 18 处易积水路段的排水设施，汛期前完成。",
    ),
    (
        "老旧燃气管道更新",
        "Replacing old gas pipes",
        "安全",
        4_900_000,
        "housing",
        "gongyuan",
        0.76,
        "更新 30 公里使用超过 20 年的燃气管道，入户安装燃气泄漏报警器。",
    ),
    (
        "零工市场",
        "A day-labour job market",
        "就业",
        800_000,
        "hrss",
        "nanhu",
        0.6,
        "建设零工市场，提供求职登记、技能培训和劳资纠纷调解。",
    ),
    (
        "社区矫正与法律服务站",
        "Legal aid points in communities",
        "其他",
        600_000,
        "justice",
        "beiyuan",
        0.43,
        "在每个街道设立法律服务站，律师定期坐班提供免费咨询。",
    ),
    (
        "中小学课后服务",
        "After-school care",
        "教育",
        2_000_000,
        "edu",
        "jianshe",
        0.72,
        "为 1 至 6 年级学生提供课后托管和兴趣课程，费用由财政补贴。",
    ),
    (
        "河道生态治理",
        "River clean-up",
        "环境",
        4_400_000,
        "water",
        "binhe",
        0.48,
        "治理 3 条黑臭河道，建设生态护岸和沿河步道。",
    ),
    (
        "消防通道整治",
        "Clearing fire lanes",
        "安全",
        700_000,
        "fire",
        "heping",
        0.57,
        "清理 50 个小区被占用的消防通道，施划标线并安装监控。",
    ),
    (
        "社区食堂适老化改造",
        "Age-friendly community canteens",
        "养老",
        1_100_000,
        "civil",
        "xinhua",
        0.45,
        "对现有社区食堂进行适老化改造，加装扶手、防滑地面和大字菜单。",
    ),
    (
        "足球场地建设",
        "Football pitches",
        "文体",
        2_200_000,
        "sports",
        "dongfeng",
        0.38,
        "新建 4 块社会足球场，学校场地课后向社会开放。",
    ),
]

PROPOSALS = [
    (
        "小区增设休息座椅",
        "养老",
        "street-heping",
        50_000,
        37,
        "小区里老人多，散步走一段就要歇，希望沿路多放几张带靠背的椅子。",
    ),
    (
        "菜市场门口增设非机动车停放点",
        "交通",
        "street-xinhua",
        80_000,
        22,
        "早上买菜电动车乱停，堵住人行道。",
    ),
    (
        "公园增设公共厕所",
        "环境",
        "street-binhe",
        600_000,
        58,
        "滨河公园太大，只有一个厕所，老人孩子很不方便。",
    ),
    (
        "社区开设老年人智能手机培训",
        "养老",
        "street-jianshe",
        30_000,
        41,
        "很多老人不会用手机挂号、缴费，希望社区定期开课。",
    ),
    (
        "学校周边增设临时停车位",
        "交通",
        "street-chaoyang",
        200_000,
        19,
        "接孩子时没有地方停车，只能绕圈。",
    ),
    ("夜间路灯亮化", "安全", "street-nanhu", 350_000, 27, "南湖路段晚上很黑，下夜班回家不安全。"),
]

NEXT_YEAR = [
    ("公园增设公共厕所", "Public toilets in parks", "环境", 1_400_000, "urban", "binhe"),
    (
        "老年人智能手机培训",
        "Smartphone classes for older residents",
        "养老",
        300_000,
        "civil",
        "jianshe",
    ),
    ("夜间路灯亮化", "Street lighting at night", "安全", 1_800_000, "urban", "nanhu"),
    ("社区心理咨询室", "Counselling rooms in communities", "医疗", 900_000, "health", "wenhua"),
    ("屋顶光伏试点", "Rooftop solar pilot", "环境", 3_600_000, "dev-reform", "gongyuan"),
    (
        "青少年科普活动中心",
        "Science centre for young people",
        "教育",
        2_700_000,
        "science",
        "chaoyang",
    ),
]


def _deputies(s: Session) -> list[User]:
    password_hash = hash_password(DEPUTY_PASSWORD)
    s.execute(
        insert(User),
        [
            {
                "username": f"deputy{i:03d}",
                "display_name": f"代表{i:03d}",
                "role": Role.deputy,
                "is_active": True,
                "password_hash": password_hash,
            }
            for i in range(1, DEPUTIES + 1)
        ],
    )
    s.flush()
    return list(s.exec(select(User).where(User.role == Role.deputy).order_by(User.id)))  # type: ignore[arg-type]


def _project(
    s: Session,
    title: str,
    title_en: str,
    cat: str,
    budget: int,
    dept: str,
    street: str,
    desc: str = "",
) -> Project:
    sponsor = f"dept-{dept}" if unit_by_code(s, f"dept-{dept}") else "dept-civil"
    area = f"street-{street}" if unit_by_code(s, f"street-{street}") else None
    return service.create_project(
        s,
        data=ProjectCreate(
            title=title,
            title_en=title_en,
            description=desc,
            category=cat,
            budget=budget,
            sponsor_unit_code=sponsor,
            area_code=area,
        ),
    )


def build(*, engine: Engine, rng: random.Random, responses: int) -> None:
    """Deputies, projects, a published vote and grading, proposals, progress, an open vote."""
    with Session(engine) as s, progress("voting", DEPUTIES * 3) as p:
        if unit_by_code(s, "dept-civil") is None:
            sys.stderr.write("voting demo: the unit tree is missing; skipped\n")
            return
        deputies = _deputies(s)
        names = [d.username for d in deputies]
        projects = [
            _project(s, t, en, c, b, d, st, desc) for t, en, c, b, d, st, _, desc in PROJECTS
        ]
        popularity = {pr.id: spec[6] for pr, spec in zip(projects, PROJECTS, strict=True)}
        vs = service.create_session(
            s,
            data=SessionCreate(
                title="2026年区人大代表票决民生实事项目",
                title_en="2026 deputies' vote on livelihood projects",
                year=2026,
                project_ids=[pr.id or 0 for pr in projects],
                deputy_usernames=names,
                budget_cap=30_000_000,
                threshold="majority_of_all",
                on_no_fit="skip",
            ),
            actor="admin",
        )
        service.open_session(s, vs=vs, actor="admin")
        # About 95% turnout; each deputy leans a little for or against spending.
        for d in deputies:
            p.advance()
            if rng.random() < 0.05:
                continue
            lean = rng.gauss(0, 0.08)
            choices = {}
            for pid, pop in popularity.items():
                x = rng.random()
                if x < pop + lean:
                    choices[str(pid)] = "for"
                elif x < pop + lean + (1 - pop) * 0.6:
                    choices[str(pid)] = "against"
                else:
                    choices[str(pid)] = "abstain"
            service.cast_ballot(s, vs=vs, user=d, data=BallotIn(choices=choices))
        s.flush()
        service.close_session(s, vs=vs, actor="admin")
        service.publish_session(s, vs=vs, actor="admin")
        s.commit()

        # Progress on the selected projects through the year.
        assert vs.result is not None
        selected = [r["project_id"] for r in vs.result["projects"] if r["selected"]]
        notes = [
            "完成立项和方案设计",
            "完成招标，施工单位进场",
            "主体工程完工",
            "开展验收",
            "投入使用",
        ]
        percents: dict[int, int] = {}
        for pid in selected:
            project = s.get(Project, pid)
            assert project is not None
            target = rng.choice([35, 60, 80, 100, 100])
            day = date(2026, 3, 1)
            for step, pct in enumerate(sorted({min(target, v) for v in (10, 35, 60, 85, target)})):
                day += timedelta(days=rng.randint(30, 50))
                note = notes[min(step, len(notes) - 1)] if pct < 100 else notes[-1]
                service.add_progress(
                    s,
                    project=project,
                    data=ProjectUpdateCreate(
                        date=min(day, date(2026, 11, 20)), percent_done=pct, note=note
                    ),
                    actor="admin",
                )
            percents[pid] = target
        s.commit()

        # The deputies grade what was carried out (满意度测评), also published.
        sat = service.create_session(
            s,
            data=SessionCreate(
                kind=SessionKind.satisfaction,
                title="2026年民生实事项目实施情况满意度测评",
                title_en="2026 livelihood projects: satisfaction grading",
                year=2026,
                project_ids=selected,
                deputy_usernames=names,
                budget_cap=0,
            ),
            actor="admin",
        )
        service.open_session(s, vs=sat, actor="admin")
        for d in deputies:
            p.advance()
            if rng.random() < 0.07:
                continue
            marks = {}
            for pid in selected:
                good = 0.25 + 0.6 * percents[pid] / 100
                x = rng.random()
                marks[str(pid)] = (
                    "satisfied"
                    if x < good
                    else "basically_satisfied"
                    if x < good + 0.3
                    else "dissatisfied"
                )
            service.cast_ballot(s, vs=sat, user=d, data=BallotIn(choices=marks))
        service.close_session(s, vs=sat, actor="admin")
        service.publish_session(s, vs=sat, actor="admin")
        s.commit()

        # Residents' proposals with their supports (keyed hashes of made-up browsers).
        for title, cat, area, cost, supports, desc in PROPOSALS:
            proposal = service.create_proposal(
                s,
                data=ProposalCreate(
                    title=title,
                    description=desc,
                    category=cat,
                    area_code=area if unit_by_code(s, area) else None,
                    rough_cost=cost,
                ),
            )
            s.add_all(
                ProposalSupport(
                    proposal_id=proposal.id or 0,
                    supporter_key=f"{rng.getrandbits(256):064x}",
                    network_key=f"{rng.getrandbits(256):064x}",
                )
                for _ in range(supports)
            )
            proposal.support_count = supports
            s.add(proposal)
        s.commit()

        # Next year's vote is open: log in as a deputy and try /vote/<id>.
        upcoming = [_project(s, *spec, desc="") for spec in NEXT_YEAR]
        for proposal in s.exec(select(Proposal)):
            match = next(
                (pr for pr in upcoming if proposal.title in pr.title or pr.title in proposal.title),
                None,
            )
            if match is not None:
                proposal.status = ProposalStatus.shortlisted
                proposal.project_id = match.id
                s.add(proposal)
        nxt = service.create_session(
            s,
            data=SessionCreate(
                title="2027年区人大代表票决民生实事项目",
                title_en="2027 deputies' vote on livelihood projects",
                year=2027,
                project_ids=[pr.id or 0 for pr in upcoming],
                deputy_usernames=names,
                budget_cap=6_000_000,
                max_for_per_ballot=4,
            ),
            actor="admin",
        )
        service.open_session(s, vs=nxt, actor="admin")
        for d in deputies[10:70]:
            p.advance(DEPUTIES // 60)
            picks = rng.sample([pr.id for pr in upcoming], 4)
            service.cast_ballot(
                s,
                vs=nxt,
                user=d,
                data=BallotIn(
                    choices={
                        str(pr.id): ("for" if pr.id in picks else "abstain") for pr in upcoming
                    }
                ),
            )
        s.commit()
        ids = (vs.id, sat.id, nxt.id)
    sys.stderr.write(
        f"demo deputies: deputy001 … deputy{DEPUTIES:03d} / {DEPUTY_PASSWORD}; results at "
        f"/results/{ids[0]} and /results/{ids[1]}, the open 2027 vote at /vote/{ids[2]} "
        "(deputy001 has not voted yet)\n"
    )
