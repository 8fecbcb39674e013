"""Persistence: the SQLite database and its numbered migrations (db.py), and the
content-addressed result files (results.py).
"""
