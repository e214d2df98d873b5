"""Router only: page config, ?model= links, the shared sidebar, navigation."""

from __future__ import annotations

import streamlit as st

from ui import state
from ui.format import safe
from ui.page import sidebar
from ui.services import model_specs

st.set_page_config(
    page_title="OpenVINO Optimizer",
    page_icon="assets/logo.svg",
    layout="wide",
    initial_sidebar_state="expanded",
)
st.logo("assets/logo.svg", size="large")

PAGES = {
    "Start": [
        st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("app_pages/models.py", title="Models", icon=":material/deployed_code:"),
    ],
    "Optimize and measure": [
        st.Page("app_pages/classify.py", title="Classify", icon=":material/image_search:"),
        st.Page("app_pages/quantize.py", title="Quantize", icon=":material/compress:"),
        st.Page("app_pages/study.py", title="Calibration study", icon=":material/science:"),
        st.Page("app_pages/train.py", title="Train & compress", icon=":material/model_training:"),
        st.Page("app_pages/benchmark.py", title="Benchmark", icon=":material/speed:"),
        st.Page("app_pages/accuracy.py", title="Accuracy", icon=":material/target:"),
        st.Page("app_pages/tradeoffs.py", title="Trade-offs", icon=":material/scatter_plot:"),
    ],
    "Work": [
        st.Page("app_pages/jobs.py", title="Jobs", icon=":material/work_history:"),
    ],
}

page = st.navigation(PAGES)
requested = st.query_params.get("model")  # ?model=lenet5-mnist: a link that opens a page on a model
if requested and st.session_state.get(state.MODEL_FROM_URL) != requested:
    st.session_state[state.MODEL_FROM_URL] = requested
    if requested in {spec.id for spec in model_specs()}:
        st.session_state[state.MODEL] = requested
    else:
        st.toast(
            f"No model named {safe(requested, limit=64)}; showing the current one.", icon=":material/help:"
        )
slot = st.sidebar.container()  # filled after the page, so it shows the model the page just chose
try:
    page.run()
finally:
    with slot:
        sidebar()
