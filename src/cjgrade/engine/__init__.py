"""cjgrade.engine"""
