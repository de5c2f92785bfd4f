"""The ENG5 NP runner (``eng5-np-run``): a strict validating orchestrator on the engine, the
store and the API client.

Layout: :mod:`settings` (every flag, the mode registry, output folders), :mod:`exit_codes`,
:mod:`inputs` (the ENG5 folder), :mod:`judge_settings` (flags -> judge, prompts, language),
:mod:`artefact` (``assessment_run.<mode>.json`` and its schemas), one module per mode
(``plan``, ``dry_run``, ``execute``, ``align``, ``boundary``, ``register``, ``preflight``,
``remote``), :mod:`summary` (the CLI summary) and :mod:`extract` (``--auto-extract-eng5-db``).
"""
