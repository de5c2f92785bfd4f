"""cjgrade.reports"""
