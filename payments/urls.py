from django.urls import path

from payments import views

app_name = "payments"

urlpatterns = [
    path("payments/", views.accounts, name="accounts"),
    path("payments/new/", views.payment_new, name="new"),
    path("payments/<int:payment_id>/", views.payment_detail, name="detail"),
    path("payments/<int:payment_id>/refund/", views.payment_refund, name="refund"),
]
