"""cjgrade.runner"""
