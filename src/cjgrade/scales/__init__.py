"""cjgrade.scales"""
