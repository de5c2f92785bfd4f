"""``cjgrade eval``: the grades a judge gives through the product, against human scores.

Modules, in the order an evaluation uses them:

- :mod:`~cjgrade.evaluation.datasets`: scored essays from a CSV, an ASAP-AES TSV or a folder;
- :mod:`~cjgrade.evaluation.design`: per set, the grade scale from the score levels, anchors per
  level and a sample of students;
- :mod:`~cjgrade.evaluation.plan`: every batch checked before any judge call, then run;
- :mod:`~cjgrade.evaluation.run`: one batch through ``run_embedded`` on a throw-away database,
  with the judge under evaluation or a baseline;
- :mod:`~cjgrade.evaluation.metrics`: the figures of a batch against the human scores;
- :mod:`~cjgrade.evaluation.report` and :mod:`~cjgrade.evaluation.plot`: means over seeds,
  tables and the budget-study SVG.
"""
