"""The evaluator dashboard: figures assembled from the rows the analytics services answer.

Files by role: ``options`` (figure names, filters), ``rows``, ``comments`` and ``votes``
(what each panel asks the services for), ``service`` (the ``Dashboard``: rows to figures,
the page's context), ``bundle`` and ``cache`` (the JSON the page fetches, served
stale-while-revalidate), ``tables`` (CSV and XLSX downloads), ``dependencies`` and ``router``.
"""
