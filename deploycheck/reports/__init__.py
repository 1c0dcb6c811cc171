"""Reports people read, built from the verdict document and the findings: Allure files, the Markdown summary,
webhook notifications and the Prometheus text file. Pure functions of plain data; the plugins write them."""
