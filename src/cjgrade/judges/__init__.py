"""cjgrade.judges"""
