"""The dashboard (the Looker role): the marts, the live clickstream and the pipeline's freshness on one page.

`queries` reads the warehouse and the Iceberg catalog, `charts` turns what it read into
plotly figures, `panels` names the page's charts, `page` writes the HTML, `app` serves it
all with FastAPI, and `cli` adds `sandbox dashboard`.
"""
