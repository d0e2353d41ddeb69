"""Streamlit's floor for figure 5 of :mod:`bench.browser`: a page with a title, one chat message
and a chat input, and no app code. No app can be on screen sooner on the same machine."""

import streamlit as st

st.title("Bare page")
with st.chat_message("assistant"):
    st.write("Hello! This page only measures how fast Streamlit itself starts.")
st.chat_input("Message")
