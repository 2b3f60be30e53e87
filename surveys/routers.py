"""Every router of the surveys domain, in mounting order."""

from surveys.units.router import router as units

routers = [units]
