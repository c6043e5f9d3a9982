"""The HTTP edge of medsupply-kb: a FastAPI application over ``kb``."""
