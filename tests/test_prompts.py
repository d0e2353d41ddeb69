from __future__ import annotations

from llm.prompts import DEFAULT_INSTRUCTIONS, persona_prompt, substitute
from personas import Persona


def test_substitute_card_placeholders() -> None:
    assert substitute("{{char}} greets {{user}}; <BOT> and <USER>; {{Char}}", "Mara", "Sam") == (
        "Mara greets Sam; Mara and Sam; {{Char}}"
    )


def test_persona_prompt_has_the_card_fields_and_no_placeholders() -> None:
    persona = Persona(
        id="mara",
        name="Mara",
        description="Captain of the Kestrel.",
        personality="Blunt.",
        scenario="{{user}} is the new navigator.",
        mes_example="{{char}}: Ahoy.",
    )
    prompt = persona_prompt(persona, user="Sam")
    assert "You are Mara, talking with Sam" in prompt
    for text in (
        "Captain of the Kestrel.",
        "Personality: Blunt.",
        "Scenario: Sam is the new navigator.",
        "Mara: Ahoy.",
    ):
        assert text in prompt
    assert "{{" not in prompt


def test_card_system_prompt_replaces_the_default() -> None:
    persona = Persona(id="x", name="X", system_prompt="You are {{char}}. Only answer in rhymes.")
    prompt = persona_prompt(persona)
    assert prompt.startswith("You are X. Only answer in rhymes.")
    assert DEFAULT_INSTRUCTIONS[:20] not in prompt


def test_entries_before_the_character_go_between_the_instructions_and_the_description() -> None:
    from llm.prompts import NOTES_EXPLAINED

    persona = Persona(id="m", name="Mara", description="Captain of the Kestrel.")
    prompt = persona_prompt(persona, "Sam", world_before=["The sky is green.", "{{user}} is the navigator."])
    instructions, world, about = prompt.split("\n\n")[:3]
    assert instructions.startswith("You are Mara")
    assert world == "World information:\n- The sky is green.\n- Sam is the navigator."
    assert about.startswith("About Mara:")
    assert persona_prompt(persona, "Sam", world_before=[]) == persona_prompt(persona, "Sam")
    assert substitute(NOTES_EXPLAINED, "Mara", "Sam") in prompt
