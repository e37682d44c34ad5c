"""The marketer's report (`irm report`): predicted preferences in context, customer cards,
audiences and what changed since the previous scoring date, as one self-contained HTML page.

Pure functions of the scores, the training reports and the ingested tables; the stage reads the
inputs through the artifacts catalogue and writes the page and the audience files atomically.
"""
