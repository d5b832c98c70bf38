"""Mutation analysis of a rubric (``grade check-rubric``): is the rubric strong enough to catch broken solutions?"""
