"""The ENG5 NP runner (``eng5-np-run``): a strict validating orchestrator on the engine, the
store and the API client.

Layout: :mod:`settings` (every flag, the mode registry, output folders), :mod:`exit_codes`,
:mod:`inputs` (the ENG5 folder) with :mod:`anchor_grades` (CSV and file-name grades),
:mod:`judge_settings` (flags -> judge, prompts, language), :mod:`prepare` (validation before
anything is spent) with :mod:`api_prepare` (an assignment resolved through the admin API),
:mod:`artefact` (``assessment_run.<mode>.json`` and its schemas, the mode sections in
:mod:`schema_sections`), one module per mode (``plan``, ``dry_run``, ``execute``, ``align``,
``boundary``, ``register``, ``preflight``, ``remote``), :mod:`summary` (the CLI summary) and
:mod:`extract` (``--auto-extract-eng5-db``).
"""
