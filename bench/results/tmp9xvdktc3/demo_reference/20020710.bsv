atrial fibrillation | -157680
gout | -148920
hypothyroidism | -87600
prior stroke | -78840
osteoarthritis | -78840
productive cough | -336
fever | -120
fatigue | -120
chills | -16
shortness of breath | -15
M | 0
41 yo | 0
crackles at the right base | 0
right lower lobe consolidation on chest x-ray | 0
leukocytosis | 0
ceftriaxone | 0
supplemental oxygen | 0
family history of osteoarthritis | 0
intravenous fluids | 2
azithromycin | 7
thoracentesis | 48
repeat chest x-ray | 72
weaning of supplemental oxygen | 96
transition to oral amoxicillin-clavulanate | 96
incentive spirometry | 144
delirium | 168
discharged to a skilled nursing facility | 192
