"""dihr-graph core: the graph model, its stores and the domain services.

This package is pure: it imports nothing from ``api``, ``importers``, ``maps``,
FastAPI, strawberry or folium.
"""
