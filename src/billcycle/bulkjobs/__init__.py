"""Fusebill bulk jobs ("account uploads"): validated then processed in the background."""
