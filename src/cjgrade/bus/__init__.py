"""cjgrade.bus"""
