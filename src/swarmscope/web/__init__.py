"""The web console (front end): FastAPI pages and JSON over the store and the workflow's actions."""
