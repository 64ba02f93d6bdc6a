"""Sicherheitsanalyse kit: area profile, citizen survey and recommendations
for municipal crime-prevention analyses (ASSKomm, Saxony)."""

__version__ = "0.1.0"
