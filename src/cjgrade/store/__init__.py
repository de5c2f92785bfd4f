"""cjgrade.store"""
