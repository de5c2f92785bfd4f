"""cjgrade.api"""
