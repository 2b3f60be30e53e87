"""Every router of the surveys domain, in mounting order."""

from surveys.forms.router import router as forms
from surveys.units.router import router as units
from surveys.voting.router import router as voting

routers = [units, forms, voting]
