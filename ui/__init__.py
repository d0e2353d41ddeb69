"""Streamlit glue shared by the pages: cached resources, the settings sidebar, rendering."""
