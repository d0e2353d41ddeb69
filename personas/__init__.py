"""Personas: Character Card V2 fields plus a long background, stored as JSON files.

Plain Python; never imports Streamlit.
"""

from personas.library import PersonaLibrary
from personas.model import Persona

__all__ = ["Persona", "PersonaLibrary"]
