"""A kept mart (allowance_findings: it grows with history) is updated in place, not rebuilt
every night: publishing hands its superseded copy back to the build schema and the next
build brings that copy up to date from its own watermark (dbt_project/macros/
kept_tables.sql, publish.Target.kept). What readers see equals a full rebuild."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import psycopg
import pytest
from conftest import reset_loaded_data, write_extract

from dla_pipeline import steps
from dla_pipeline.generator import generate_night, make_thai_id
from dla_pipeline.night import run_night
from dla_pipeline.publish import publish as publish_gated
from dla_pipeline.transform import build

AH = "citizen_id,birth_date,payment_period,amount,paid_on,channel,status"
NIGHTS = [date(2026, 7, 1), date(2026, 7, 2), date(2026, 7, 3)]


def publish(night: date, run_id: str) -> list[str]:
    """The gate, then the publish (which publishes only a build its run's gate passed)."""
    steps.quality_gate(night, run_id)
    return publish_gated(night, run_id)


KEY = "finding, person_key, lao_code, payment_period"
PUBLISHED_TABLE = (
    "select c.oid from pg_rewrite r join pg_depend d on d.objid = r.oid"
    " join pg_class c on c.oid = d.refobjid"
    " where r.ev_class = 'restricted.allowance_findings'::regclass and c.relkind = 'r'"
)


def _one(url: str, query: str):
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchone()[0]


def _rows(url: str, table: str) -> list:
    with psycopg.connect(url) as conn:
        return conn.execute(f"select * from {table} order by {KEY}").fetchall()


def _assert_published_equals_a_rebuild(url: str, night: date) -> None:
    published = _rows(url, "restricted.allowance_findings")
    assert published
    build(night, full_refresh=True)
    assert published == _rows(url, "restricted_build.allowance_findings")


@pytest.fixture(scope="module")
def nights(warehouse_db):
    url = warehouse_db["WAREHOUSE_URL"]
    reset_loaded_data(url, Path(warehouse_db["LANDING_DIR"]))
    stored = []
    for i, night in enumerate(NIGHTS):
        generate_night(night, laos=30, seed=71 + i, bad_fraction=0.02, send_rate=0.9)
        run_night(night, runner="direct")
        stored.append(_one(url, PUBLISHED_TABLE))
    return url, stored


def test_the_superseded_copy_comes_back_and_is_brought_up_to_date(nights, landing):
    url, stored = nights
    # night 1 and night 2 were built whole; night 3 updated night 1's copy in place
    assert stored[2] == stored[0] and stored[1] != stored[0]
    assert _one(url, "select count(*) from restricted_build.allowance_findings") > 0
    # a re-send that takes an LAO's lines away reaches the copy that comes back next
    lao = _one(url, "select lao_code from restricted.allowance_findings order by 1 limit 1")
    write_extract(landing, "allowance", NIGHTS[0].isoformat(), f"{lao}.csv", AH + "\n")
    run_night(NIGHTS[0], runner="direct")
    assert _one(url, PUBLISHED_TABLE) == stored[1]
    assert not _one(
        url, f"select count(*) from restricted.allowance_findings where lao_code = '{lao}'"
    )
    # each copy keeps its primary key and its lookup index on (payment_period, lao_code)
    # through the moves: publishing renames both after the copy
    for copy in (_one(url, PUBLISHED_TABLE), "'restricted_build.allowance_findings'::regclass"):
        indexes = _one(url, f"select array_agg(indisprimary) from pg_index where indrelid = {copy}")
        assert sorted(indexes) == [False, True]
    _assert_published_equals_a_rebuild(url, NIGHTS[0])


def test_a_copy_is_rebuilt_whole_when_its_dimension_digest_changed(nights):
    url, _stored = nights
    build(NIGHTS[-1])  # the copy in the build schema is up to date
    ghost = (
        "insert into restricted_build.allowance_findings"
        " select 'arrears', repeat('0', 64), lao_code, lao_name_th, province_code,"
        " province_name_en, date '2001-01-01', 2544, 1, 'ghost'"
        " from restricted_build.allowance_findings limit 1"
    )
    ghosts = "select count(*) from restricted_build.allowance_findings where detail = 'ghost'"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(ghost)
        with pytest.raises(psycopg.errors.UniqueViolation):  # the grain is its primary key
            conn.execute(ghost)
    build(NIGHTS[-1])  # nothing new: the copy is updated in place, the ghost stays
    assert _one(url, ghosts) == 1
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "update core.model_watermarks set digest = 'an older registry'"
            " where model like 'allowance_findings#%'"
        )
    build(NIGHTS[-1])
    assert _one(url, ghosts) == 0


def test_a_copy_the_build_did_not_bring_up_to_date_is_never_published(nights):
    url, _stored = nights
    build(NIGHTS[-1])
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "update core.model_watermarks set change_id = change_id - 1"
            " where model like 'allowance_findings#%'"
        )
    before = _one(url, PUBLISHED_TABLE)
    with pytest.raises(RuntimeError, match="not brought up to date by the last build"):
        publish(NIGHTS[-1], "test")
    assert _one(url, PUBLISHED_TABLE) == before
    build(NIGHTS[-1])  # the copy catches up (redo: its watermark is behind)
    publish(NIGHTS[-1], "test")
    _assert_published_equals_a_rebuild(url, NIGHTS[-1])


def test_every_incremental_mart_is_kept_by_the_publish_and_no_other():
    """An incremental mart the publish does not hand back would be rebuilt whole each
    night (and a kept one that is not incremental would be published stale)."""
    from dla_pipeline.publish import TARGETS

    models = Path(__file__).resolve().parents[1] / "dbt_project" / "models"
    for target, folder in zip(TARGETS, ("marts", "restricted"), strict=True):
        incremental = {
            p.stem
            for p in (models / folder).glob("*.sql")
            if "materialized='incremental'" in p.read_text(encoding="utf-8")
        }
        assert incremental == set(target.kept), folder


def test_after_a_full_refresh_the_other_copy_is_dropped_and_the_published_one_copied(nights):
    """A copy built before a full refresh (other code, other keys, maybe another shape)
    never comes back: it is dropped, and the build schema gets a copy of the one just
    published, with its watermark, which the next build brings up to date in place
    instead of building every row of history again inside a night."""
    url, _stored = nights
    build(NIGHTS[-1], full_refresh=True)
    with psycopg.connect(url) as conn:
        old_copies = {
            r[0]
            for r in conn.execute(
                "select relname from pg_class where relname like 'restricted__allowance_findings__v%'"
            )
        }
    publish(NIGHTS[-1], "test")
    copy = "'restricted_build.allowance_findings'::regclass"
    mark = (
        "select change_id || ' ' || coalesce(digest, '') from core.model_watermarks"
        " where model = 'allowance_findings#' || ({})::oid"
    )
    assert _rows(url, "restricted_build.allowance_findings") == _rows(
        url, "restricted.allowance_findings"
    )
    copied = _one(url, mark.format(copy))
    assert copied and copied == _one(
        url, mark.format(f"select distinct oid from ({PUBLISHED_TABLE}) as p")
    )
    with psycopg.connect(url) as conn:
        stores = {
            r[0]
            for r in conn.execute(
                "select relname from pg_class where relname like 'restricted__allowance_findings__v%'"
            )
        }
        assert (
            conn.execute(
                f"select count(*) from pg_index where indrelid = {copy} and indisprimary"
            ).fetchone()[0]
            == 1
        )
        assert (
            conn.execute(f"select count(*) from pg_index where indrelid = {copy}").fetchone()[0]
            == 2
        )
        owner = conn.execute(
            f"select relowner::regrole::text, relrowsecurity from pg_class where oid = {copy}"
        ).fetchone()
    assert owner == ("dla_transformer", False)
    assert not (stores & old_copies - {_published_name(url)})  # the old copy is gone
    # a ghost in the copy survives the next build: it is brought up to date, not rebuilt
    ghost = (
        "insert into restricted_build.allowance_findings"
        " select 'arrears', repeat('0', 64), lao_code, lao_name_th, province_code,"
        " province_name_en, date '2001-01-01', 2544, 1, 'ghost'"
        " from restricted_build.allowance_findings limit 1"
    )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(ghost)
    build(NIGHTS[-1])
    assert (
        _one(url, "select count(*) from restricted_build.allowance_findings where detail = 'ghost'")
        == 1
    )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("delete from restricted_build.allowance_findings where detail = 'ghost'")
    publish(NIGHTS[-1], "test")  # the gate reads the copy, then it is published
    build(NIGHTS[-1])
    publish(NIGHTS[-1], "test")
    _assert_published_equals_a_rebuild(url, NIGHTS[-1])


def _published_name(url: str) -> str:
    return _one(url, PUBLISHED_TABLE.replace("select c.oid", "select c.relname"))


LOG = "core.allowance_touched_groups_log"
PAID_TONIGHT = (
    "select f.lao_code from restricted.allowance_findings as f where exists ("
    " select from core.fct_allowance_payments as p where p.lao_code = f.lao_code"
    " and p.person_key = f.person_key and p.extract_date = %s)"
    " group by 1 order by 1 limit 2"
)


def test_a_copy_behind_takes_the_groups_it_missed_from_the_log(nights, landing):
    """The copy that comes back has missed a build: it recomputes the (LAO, period) groups
    the builds since its watermark logged (core.allowance_touched_groups_log) instead of
    finding them again from every line they changed; when the log has a gap it finds
    them from the lines. Tampering with the log shows which way was taken."""
    url, _stored = nights
    night = NIGHTS[-1]
    for _ in range(2):  # two builds after whatever came before: the copies take turns
        build(night)
        publish(night, "test")
    with psycopg.connect(url) as conn:
        x, y = (r[0] for r in conn.execute(PAID_TONIGHT, (night,)).fetchall())
    in_x = f"select count(*) from restricted.allowance_findings where lao_code = '{x}'"
    before = _one(url, in_x)
    write_extract(landing, "allowance", night.isoformat(), f"{x}.csv", AH + "\n")
    run_night(night, runner="direct")  # some of x's findings go; the copy back has them
    after = _one(url, in_x)
    assert after < before
    # that build's window in the log loses x's groups (an empty window stays): the copy
    # coming back next recomputes only what the log lists, so x's findings stay in it
    with psycopg.connect(url, autocommit=True) as conn:
        hi = conn.execute(f"select max(change_hi) from {LOG}").fetchone()[0]
        conn.execute(
            f"insert into {LOG} select change_lo, change_hi, null, null from {LOG}"
            " where change_hi = %s limit 1",
            (hi,),
        )
        conn.execute(f"delete from {LOG} where change_hi = %s and lao_code = %s", (hi, x))
    write_extract(landing, "allowance", night.isoformat(), f"{y}.csv", AH + "\n")
    run_night(night, runner="direct")
    assert _one(url, in_x) > after  # stale: its groups came from the log
    # a gap in the log: the copy coming back next finds its groups from the lines
    build(night, full_refresh=True)
    publish(night, "test")
    for _ in range(2):
        build(night)
        publish(night, "test")
    cid = make_thai_id("310050099999")
    row = f"{cid},12/03/2490,07/2569,123,01/07/2569,bank_transfer,paid"  # not the tier
    write_extract(landing, "allowance", night.isoformat(), f"{y}.csv", AH + "\n" + row + "\n")
    run_night(night, runner="direct")
    in_y = "select count(*) from restricted.allowance_findings where person_key = %s"
    with psycopg.connect(url, autocommit=True) as conn:
        key = conn.execute(
            "select person_key from core.fct_allowance_payments where lao_code = %s and amount = 123",
            (y,),
        ).fetchone()[0]
        assert conn.execute(in_y, (key,)).fetchone()[0] == 1  # its finding is published
        conn.execute(f"delete from {LOG} where change_hi = (select max(change_hi) from {LOG})")
    build(night)  # nothing new; the copy coming back has not seen y's row yet
    publish(night, "test")
    _assert_published_equals_a_rebuild(url, night)


def test_a_copy_that_cannot_be_made_leaves_the_publish_done(nights, monkeypatch):
    """The copy is only a speed-up made after the publish committed: when it fails (a
    full disk), the night is published all the same and the next build builds the mart
    whole."""
    from dla_pipeline import publish as publishing

    def full_disk(*_args):
        raise psycopg.errors.DiskFull("could not extend file: No space left on device")

    url, _stored = nights
    monkeypatch.setattr(publishing, "_copy_published", full_disk)
    build(NIGHTS[-1], full_refresh=True)
    publish(NIGHTS[-1], "test")  # no error
    assert not _one(url, "select to_regclass('restricted_build.allowance_findings') is not null")
    monkeypatch.undo()
    build(NIGHTS[-1])
    publish(NIGHTS[-1], "test")
    _assert_published_equals_a_rebuild(url, NIGHTS[-1])
