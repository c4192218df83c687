"""multilabel dashboard: `streamlit run app.py`. This script only declares the pages.

The page scripts live in app_pages/, not pages/: Streamlit treats a folder named pages/ beside the entry script as
an old-style page list and serves it, without this navigation, to a first request that is a direct link.
"""

import streamlit as st

st.set_page_config(page_title="multilabel", page_icon=":material/label:", layout="wide")
pages = [
    st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("app_pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("app_pages/predict.py", title="Predict", icon=":material/online_prediction:"),
    st.Page("app_pages/runs.py", title="Runs", icon=":material/history:"),
    st.Page("app_pages/heads.py", title="Sigmoid vs softmax", icon=":material/compare:"),
]
st.navigation(pages).run()
