"""Makes the resident `./dev.sh run apartment` tells you to sign in as, once.

    apartment_demo_resident.py SIGN_IN_URL ADMIN_EMAIL ADMIN_PASSWORD EMAIL PASSWORD UNIT

Signs in as the admin and creates EMAIL with the role resident and the claim unit=UNIT; a
resident that exists already is left as it is.
"""
import sys

import requests


def main():
    url, admin_email, admin_password, email, password, unit = sys.argv[1:7]
    login = requests.post(url + "/api/v1/auth/login",
                          json={"email": admin_email, "password": admin_password}, timeout=30)
    login.raise_for_status()
    token = login.json()["access_token"]
    r = requests.post(url + "/api/v1/auth/users", headers={"Authorization": f"Bearer {token}"},
                      json={"email": email, "password": password, "roles": ["resident"],
                            "claims": {"unit": unit}}, timeout=30)
    if r.status_code not in (201, 409):
        raise SystemExit(f"apartment_demo_resident: {r.status_code} {r.text}")


if __name__ == "__main__":
    main()
