"""The script `streamlit run streamlit_app.py` starts: it only calls the router (portal/app.py).

It sits at the repository root, away from portal/pages/: a `pages/` folder beside the started script would switch
on Streamlit's folder mode, which serves those files without the router.
"""

from portal.app import main

main()
