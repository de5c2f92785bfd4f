"""User grade scales from ``CJGRADE_SCALES_FILE`` reach the store, the API and its schema."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from cjgrade.api import create_app
from cjgrade.config import load_settings
from cjgrade.errors import ConfigError, InputError
from cjgrade.store import open_store, register_anchor, upsert_assignment

SCALES_TOML = """
[[scale]]
id = "ib_1_7"
display_name = "IB 1-7"
grades = ["1", "2", "3", "4", "5", "6", "7"]
below_lowest_grade = "N"
"""
INSTRUCTIONS = "Write an argumentative essay about school uniforms."


def scales_env(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "scales.toml"
    path.write_text(SCALES_TOML, encoding="utf-8")
    return {"CJGRADE_HOME": str(tmp_path), "CJGRADE_SCALES_FILE": str(path)}


async def test_api_lists_and_accepts_a_user_scale(database_url: str, tmp_path: Path) -> None:
    """With a scales file the API lists the user scale, documents it in the grade_scale enum,
    creates an assignment on it and validates anchor grades against it."""
    settings = load_settings(env=scales_env(tmp_path), database_url=database_url)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with app.state.store.transaction() as session:
            from cjgrade.store import create_token

            _, token = await create_token(session, "t", "admin")
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", headers=headers
        ) as client:
            scales = (await client.get("/admin/v1/scales")).json()
            assert scales[-1]["scale_id"] == "ib_1_7" and scales[-1]["below_lowest_grade"] == "N"
            schema = (await client.get("/openapi.json")).json()
            enum = schema["components"]["schemas"]["InstructionIn"]["properties"]["grade_scale"]
            assert "ib_1_7" in enum["enum"] and "swedish_8_anchor" in enum["enum"]
            body = {
                "assignment_id": "ib",
                "grade_scale": "ib_1_7",
                "instructions_text": INSTRUCTIONS,
            }
            created = await client.post("/admin/v1/assessment-instructions", json=body)
            assert created.status_code == 201, created.text
            anchor = {"assignment_id": "ib", "grade": "6", "anchor_label": "a6", "essay_text": "x"}
            assert (await client.post("/admin/v1/anchors/register", json=anchor)).status_code == 201
            bad = await client.post("/admin/v1/anchors/register", json={**anchor, "grade": "B"})
            assert bad.status_code == 422 and "7" in bad.json()["detail"]


async def test_store_knows_user_scales_only_when_opened_with_them(
    database_url: str, tmp_path: Path
) -> None:
    """open_store(settings) carries the settings' user scales into every session; a store
    opened on a bare URL knows only the built-ins."""
    settings = load_settings(env=scales_env(tmp_path), database_url=database_url)
    store = await open_store(settings)
    try:
        async with store.transaction() as session:
            await upsert_assignment(session, "ib", instructions=INSTRUCTIONS, grade_scale="ib_1_7")
            record, _ = await register_anchor(session, "ib", grade="N", text="below", label="n")
        assert record.grade == "N"
    finally:
        await store.close()
    bare = await open_store(database_url)
    try:
        with pytest.raises(InputError, match="unknown grade scale 'ib_1_7'"):
            async with bare.transaction() as session:
                await upsert_assignment(
                    session, "ib2", instructions=INSTRUCTIONS, grade_scale="ib_1_7"
                )
    finally:
        await bare.close()


def test_bad_scales_file_stops_the_app_before_it_serves(tmp_path: Path) -> None:
    """A scales file that is missing or redefines a built-in id is a ConfigError at build."""
    env = {"CJGRADE_HOME": str(tmp_path), "CJGRADE_SCALES_FILE": str(tmp_path / "none.toml")}
    with pytest.raises(ConfigError, match=r"none\.toml"):
        create_app(load_settings(env=env))
    clash = tmp_path / "clash.toml"
    clash.write_text('[[scale]]\nid = "swedish_8_anchor"\ngrades = ["a", "b"]\n')
    env["CJGRADE_SCALES_FILE"] = str(clash)
    with pytest.raises(ConfigError, match="swedish_8_anchor"):
        create_app(load_settings(env=env))


def test_scales_file_in_the_config_file_is_relative_to_it(tmp_path: Path) -> None:
    """``scales_file`` in config.toml resolves next to the config file; the env var wins."""
    (tmp_path / "scales.toml").write_text(SCALES_TOML)
    (tmp_path / "config.toml").write_text('scales_file = "scales.toml"\n')
    settings = load_settings(env={"CJGRADE_HOME": str(tmp_path)})
    assert settings.scales_file == tmp_path / "scales.toml"
    assert [s.scale_id for s in settings.load_user_scales()] == ["ib_1_7"]
    env = {"CJGRADE_HOME": str(tmp_path), "CJGRADE_SCALES_FILE": str(tmp_path / "other.toml")}
    assert load_settings(env=env).scales_file == tmp_path / "other.toml"
