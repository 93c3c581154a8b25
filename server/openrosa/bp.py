from flask import Blueprint

bp = Blueprint("openrosa", __name__)
