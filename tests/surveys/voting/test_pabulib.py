"""Real elections from Pabulib: Minyi's rules must reproduce the published selections."""

from __future__ import annotations

from pathlib import Path

import pytest

from surveys.voting import equal_shares as shares
from surveys.voting import pabulib, rules
from tests.conftest import SHARED

DATA = SHARED / "data" / "pabulib"

# The six instances whose META rule is one that a vote-ranking session models.
GREEDY_FILES = [
    "Poland_Gdynia_2021_Babie_Doly__large.pb",  # greedy-no-skip
    "Poland_Lodz_2024_Nr_33.pb",  # greedy-threshold
    "Poland_Warszawa_2017_Anin.pb",  # greedy
    "Poland_Warszawa_2018_Wysokie_Okecie.pb",  # greedy-threshold
    "Poland_Warszawa_2019_Brodno-Podgrodzie.pb",  # greedy
    "Poland_Warszawa_2019_Zacisze.pb",  # greedy
]
WIELICZKA = "Poland_Wieliczka_2023_Green_Budget.pb"
BUDAPEST = "Hungary_Budapest_2023_VIII_Jozsefvaros.pb"


def load(name: str) -> pabulib.PbElection:
    path = DATA / name
    assert path.exists(), f"shared Pabulib data missing: {path}"
    return pabulib.parse(path.read_text(encoding="utf-8"))


def candidates(e: pabulib.PbElection) -> list[rules.Candidate[str]]:
    counts = e.approvals()
    return [
        rules.Candidate(p.project_id, p.cost, counts[p.project_id], position=i)
        for i, p in enumerate(e.projects)
    ]


def test_shared_folder_holds_the_eight_elections() -> None:
    names = {p.name for p in DATA.glob("*.pb")}
    assert set(GREEDY_FILES) | {WIELICZKA, BUDAPEST} <= names
    rules_in_files = {n: load(n).rule for n in GREEDY_FILES}
    assert set(rules_in_files.values()) == pabulib.GREEDY_RULES


@pytest.mark.parametrize("name", GREEDY_FILES)
def test_greedy_instances_reproduce_the_published_selection(name: str) -> None:
    e = load(name)
    counts = e.approvals()
    # Our vote count from the VOTES section agrees with the file's own PROJECTS column.
    assert all(p.votes_column in (None, counts[p.project_id]) for p in e.projects)
    electorate = len(e.votes)
    sel = rules.select(candidates(e), e.rule_config(), electorate=electorate, cast=electorate)
    published = {p.project_id for p in e.projects if p.selected == 1}
    assert set(sel.selected_ids()) == published
    assert sel.budget_used <= e.budget
    assert sel.ties == []  # none of these elections had a tie that decided anything


def test_wieliczka_equal_shares_with_add_one_and_comparison() -> None:
    e = load(WIELICZKA)
    assert e.rule == "equalshares/add1-comparison"
    res = shares.equal_shares({p.project_id: p.cost for p in e.projects}, e.votes, e.budget)
    published = {p.project_id for p in e.projects if p.selected == 1}
    assert set(res.selected) == published
    assert not res.used_greedy and res.prefer_mes > res.prefer_greedy
    assert res.per_voter_budget == 315  # 151 per voter at the start, raised to 315
    # The greedy ranking would have chosen differently: the rule matters here.
    assert set(res.greedy) != published


def test_budapest_is_parsed_and_reported_not_asserted() -> None:
    e = load(BUDAPEST)
    assert e.rule == "unknown" and len(e.votes) == 918
    # Half of Budapest's votes were cast on paper and are not in the file (see its META
    # comment), so no rule applied to these ballots can be expected to give the result.
    sel = rules.select(
        candidates(e),
        rules.RuleConfig(budget=e.budget, threshold=rules.Threshold(rules.ThresholdKind.none)),
        electorate=918,
        cast=918,
    )
    assert sel.budget_used <= e.budget


def test_parse_errors_name_the_problem(tmp_path: Path) -> None:
    good = "META\nkey;value\nbudget;10\nvote_type;approval\nPROJECTS\nproject_id;cost\n1;5\n2;7\nVOTES\nvoter_id;vote\n1;1,2\n"
    e = pabulib.parse(good)
    assert e.budget == 10 and [p.cost for p in e.projects] == [5, 7] and e.votes == [["1", "2"]]
    bad = {
        good.replace("1;1,2", "1;1,3"): "unknown projects",
        good.replace("vote_type;approval", "vote_type;ordinal"): "approval",
        good.replace("1;5", "1;5.5"): "whole currency",
        good.replace("1;5", "1;abc"): "not a number",
        good.replace("budget;10\n", ""): "budget",
        good.replace("2;7", "1;7"): "duplicate",
        good.replace("1;1,2", "1;1,1"): "twice",
    }
    for text, needle in bad.items():
        with pytest.raises(pabulib.PabulibError, match=needle):
            pabulib.parse(text)


def test_write_then_parse_round_trip_with_pabutools() -> None:
    from pabutools.election.pabulib import parse_pabulib_from_string

    text = pabulib.write(
        {
            "description": "测试; 含分号",
            "country": "China",
            "unit": "示范区",
            "instance": 2027,
            "budget": 100,
            "vote_type": "approval",
            "rule": "greedy",
        },
        [
            {"project_id": "1", "cost": 60, "name": "社区食堂", "votes": 2, "selected": 1},
            {"project_id": "2", "cost": 50, "name": "口袋公园", "votes": 1, "selected": 0},
        ],
        [["1", "2"], ["1"], []],
    )
    e = pabulib.parse(text)
    assert e.meta["description"] == "测试; 含分号" and e.meta["num_votes"] == "3"
    assert [p.name for p in e.projects] == ["社区食堂", "口袋公园"]
    assert e.votes == [["1", "2"], ["1"], []]
    instance, profile = parse_pabulib_from_string(text)
    assert instance.budget_limit == 100 and len(profile) == 3
    assert sorted(p.name for p in instance) == ["1", "2"]
