"""multilabel dashboard: `streamlit run app.py`. This script only declares the pages."""

import streamlit as st

st.set_page_config(page_title="multilabel", page_icon="🏷️", layout="wide")
pages = [
    st.Page("pages/home.py", title="Home", icon="🏠", default=True),
    st.Page("pages/train.py", title="Train", icon="🏋️"),
    st.Page("pages/predict.py", title="Predict", icon="🔮"),
    st.Page("pages/runs.py", title="Runs", icon="📚"),
]
st.navigation(pages).run()
