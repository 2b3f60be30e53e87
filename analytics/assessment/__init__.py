"""The annual assessment (综合考核) of leadership teams and leaders: four sources (群众口碑 from
the resident surveys, 民主测评, 实绩 and 改革攻坚、担当作为 entered by staff) combined with a
frozen, hashed configuration into a composite with its interval, rank range and sensitivity.

Files by role: ``models`` (tables), ``schemas``, ``composite`` (the arithmetic, pure numpy),
``sources`` (each source's score with its interval), ``service`` (assessments and scores),
``imports`` (scores from a spreadsheet), ``results`` (the per-subject assessment), ``router``.
"""
