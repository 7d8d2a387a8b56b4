depression | -140160
gout | -131400
left hip replacement | -122640
prostate cancer | -52560
atrial fibrillation | -26280
wheezing | -336
shortness of breath | -72
chest tightness | -72
cough | 0
increased sputum production | 0
hyperinflation on chest x-ray | 0
hypoxia | 0
respiratory acidosis | 0
intravenous methylprednisolone | 0
doxycycline | 0
BiPAP | 8
nebulized albuterol | 12
atrial fibrillation | 24
weaning of BiPAP | 96
inhaler teaching | 96
transition to oral prednisone | 96
delirium | 96
pulmonary rehabilitation referral | 120
endotracheal intubation | 120
discharged to a skilled nursing facility | 168
