"""Clinical content of the embedded demo corpus: scenarios, history, findings, treatments and complications.

Every string here is an event as it appears, verbatim, in the generated note. Written for this project (synthetic;
no patient data).
"""

CHRONIC_CONDITIONS = [
    "hypertension", "type 2 diabetes mellitus", "hyperlipidemia", "coronary artery disease", "atrial fibrillation",
    "chronic kidney disease", "COPD", "obstructive sleep apnea", "hypothyroidism", "osteoarthritis",
    "gastroesophageal reflux disease", "depression", "obesity", "peripheral arterial disease", "gout",
    "prior stroke", "breast cancer", "prostate cancer", "cirrhosis", "asthma",
]

SEX_SPECIFIC = {"F": ("breast cancer", "hysterectomy"), "M": ("prostate cancer",)}

PRIOR_PROCEDURES = [
    "appendectomy", "cholecystectomy", "coronary artery bypass grafting", "right total knee replacement",
    "percutaneous coronary intervention", "hysterectomy", "left hip replacement", "cataract surgery",
]

HOME_MEDICATIONS = [
    "lisinopril", "metformin", "atorvastatin", "aspirin", "metoprolol", "levothyroxine", "omeprazole",
    "furosemide", "apixaban", "amlodipine", "insulin glargine", "sertraline", "albuterol inhaler", "tiotropium",
]

# Each scenario: the chief complaint, symptoms (onset before admission), admission findings (time 0), first-day
# treatments (hours after admission), later treatments (hospital days), complications, procedures, discharge
# diagnosis.
SCENARIOS = [
    {
        "name": "community-acquired pneumonia",
        "complaint": "fever and cough",
        "symptoms": ["fever", "productive cough", "shortness of breath", "pleuritic chest pain", "chills", "fatigue"],
        "findings": ["right lower lobe consolidation on chest x-ray", "leukocytosis", "hypoxia",
                     "crackles at the right base", "tachycardia", "elevated procalcitonin"],
        "early_treatments": ["ceftriaxone", "azithromycin", "supplemental oxygen", "blood cultures",
                             "sputum culture", "intravenous fluids"],
        "later_treatments": ["transition to oral amoxicillin-clavulanate", "weaning of supplemental oxygen",
                             "incentive spirometry", "repeat chest x-ray"],
        "complications": ["parapneumonic effusion", "acute kidney injury",
                          "atrial fibrillation with rapid ventricular response", "delirium"],
        "procedures": ["thoracentesis"],
        "diagnosis": "community-acquired pneumonia",
        "service": "MEDICINE",
    },
    {
        "name": "heart failure exacerbation",
        "complaint": "worsening shortness of breath",
        "symptoms": ["dyspnea on exertion", "orthopnea", "lower extremity edema", "weight gain",
                     "paroxysmal nocturnal dyspnea", "abdominal distension"],
        "findings": ["elevated BNP", "bilateral pleural effusions", "jugular venous distension",
                     "pulmonary edema on chest x-ray", "bibasilar crackles", "elevated troponin"],
        "early_treatments": ["intravenous furosemide", "fluid restriction", "daily weights", "telemetry monitoring",
                             "transthoracic echocardiogram"],
        "later_treatments": ["transition to oral torsemide", "initiation of sacubitril-valsartan",
                             "uptitration of carvedilol", "heart failure education"],
        "complications": ["hypokalemia", "acute kidney injury", "hypotension", "ventricular tachycardia"],
        "procedures": ["right heart catheterization"],
        "diagnosis": "acute on chronic systolic heart failure",
        "service": "CARDIOLOGY",
    },
    {
        "name": "urosepsis",
        "complaint": "fever and confusion",
        "symptoms": ["dysuria", "urinary frequency", "fever", "confusion", "flank pain", "decreased oral intake"],
        "findings": ["hypotension", "elevated lactate", "pyuria", "leukocytosis", "costovertebral angle tenderness",
                     "altered mental status"],
        "early_treatments": ["intravenous fluid bolus", "piperacillin-tazobactam", "blood cultures", "urine culture",
                             "norepinephrine"],
        "later_treatments": ["narrowing of antibiotics to ceftriaxone", "discontinuation of norepinephrine",
                             "transition to oral ciprofloxacin", "renal ultrasound"],
        "complications": ["acute kidney injury", "Clostridioides difficile colitis", "delirium", "hypernatremia"],
        "procedures": ["central venous catheter placement", "ureteral stent placement"],
        "diagnosis": "sepsis due to pyelonephritis",
        "service": "MEDICINE",
    },
    {
        "name": "COPD exacerbation",
        "complaint": "increased wheezing",
        "symptoms": ["wheezing", "increased sputum production", "shortness of breath", "cough", "chest tightness"],
        "findings": ["hypercapnia", "diffuse expiratory wheezes", "hypoxia", "respiratory acidosis",
                     "hyperinflation on chest x-ray"],
        "early_treatments": ["nebulized albuterol", "ipratropium", "intravenous methylprednisolone", "doxycycline",
                             "BiPAP"],
        "later_treatments": ["transition to oral prednisone", "weaning of BiPAP", "pulmonary rehabilitation referral",
                             "inhaler teaching"],
        "complications": ["steroid-induced hyperglycemia", "atrial fibrillation", "pneumothorax", "delirium"],
        "procedures": ["endotracheal intubation", "arterial line placement"],
        "diagnosis": "acute exacerbation of COPD",
        "service": "MEDICINE",
    },
    {
        "name": "diabetic ketoacidosis",
        "complaint": "nausea and vomiting",
        "symptoms": ["polyuria", "polydipsia", "nausea", "vomiting", "abdominal pain", "weight loss"],
        "findings": ["hyperglycemia", "anion gap metabolic acidosis", "ketonuria", "dehydration", "hypokalemia",
                     "Kussmaul respirations"],
        "early_treatments": ["insulin infusion", "intravenous fluid resuscitation", "potassium repletion",
                             "hourly glucose checks"],
        "later_treatments": ["transition to subcutaneous insulin", "diabetes education", "nutrition consult",
                             "closure of the anion gap"],
        "complications": ["hypoglycemia", "hypophosphatemia", "cerebral edema", "acute kidney injury"],
        "procedures": ["central venous catheter placement"],
        "diagnosis": "diabetic ketoacidosis",
        "service": "MEDICINE",
    },
    {
        "name": "upper gastrointestinal bleed",
        "complaint": "black stools",
        "symptoms": ["melena", "hematemesis", "lightheadedness", "epigastric pain", "fatigue"],
        "findings": ["anemia", "tachycardia", "elevated BUN", "guaiac-positive stool", "orthostatic hypotension"],
        "early_treatments": ["intravenous pantoprazole", "packed red blood cell transfusion", "two large-bore IVs",
                             "type and cross", "octreotide"],
        "later_treatments": ["transition to oral pantoprazole", "advancement of diet", "H. pylori testing",
                             "iron supplementation"],
        "complications": ["rebleeding", "aspiration pneumonia", "transfusion reaction", "hepatic encephalopathy"],
        "procedures": ["esophagogastroduodenoscopy", "endoscopic clipping of a duodenal ulcer"],
        "diagnosis": "bleeding duodenal ulcer",
        "service": "MEDICINE",
    },
    {
        "name": "ischemic stroke",
        "complaint": "right-sided weakness",
        "symptoms": ["right arm weakness", "slurred speech", "facial droop", "headache", "unsteady gait"],
        "findings": ["left MCA territory infarct on MRI", "right hemiparesis", "aphasia", "elevated blood pressure",
                     "NIHSS of 8"],
        "early_treatments": ["CT angiography", "alteplase", "neurology consult", "swallow evaluation",
                             "neurochecks every hour"],
        "later_treatments": ["initiation of aspirin", "high-intensity statin", "physical therapy", "speech therapy",
                             "carotid ultrasound"],
        "complications": ["hemorrhagic transformation", "aspiration pneumonia", "urinary tract infection",
                          "deep vein thrombosis"],
        "procedures": ["mechanical thrombectomy", "PEG tube placement"],
        "diagnosis": "acute ischemic stroke",
        "service": "NEUROLOGY",
    },
    {
        "name": "NSTEMI",
        "complaint": "chest pain",
        "symptoms": ["substernal chest pain", "diaphoresis", "nausea", "shortness of breath", "left arm pain"],
        "findings": ["elevated troponin", "ST depressions in the lateral leads", "new wall motion abnormality",
                     "hypertensive urgency", "elevated LDL"],
        "early_treatments": ["aspirin load", "heparin drip", "nitroglycerin", "high-intensity atorvastatin",
                             "ticagrelor"],
        "later_treatments": ["cardiac rehabilitation referral", "initiation of metoprolol succinate",
                             "discontinuation of heparin drip", "smoking cessation counseling"],
        "complications": ["groin hematoma", "contrast-induced nephropathy", "atrial fibrillation",
                          "recurrent chest pain"],
        "procedures": ["cardiac catheterization", "drug-eluting stent placement"],
        "diagnosis": "non-ST elevation myocardial infarction",
        "service": "CARDIOLOGY",
    },
    {
        "name": "cellulitis",
        "complaint": "leg redness and swelling",
        "symptoms": ["left leg redness", "leg swelling", "leg pain", "fever", "chills"],
        "findings": ["erythema of the left lower extremity", "leukocytosis", "warmth and tenderness",
                     "elevated CRP", "tinea pedis"],
        "early_treatments": ["intravenous vancomycin", "cefazolin", "leg elevation", "marking of erythema borders",
                             "lower extremity ultrasound"],
        "later_treatments": ["transition to oral cephalexin", "wound care consult", "topical terbinafine",
                             "compression stockings"],
        "complications": ["abscess formation", "acute kidney injury", "vancomycin rash", "hypoglycemia"],
        "procedures": ["incision and drainage"],
        "diagnosis": "left lower extremity cellulitis",
        "service": "MEDICINE",
    },
    {
        "name": "acute pancreatitis",
        "complaint": "abdominal pain",
        "symptoms": ["epigastric pain radiating to the back", "nausea", "vomiting", "anorexia", "abdominal bloating"],
        "findings": ["elevated lipase", "peripancreatic fat stranding on CT", "leukocytosis", "hypocalcemia",
                     "gallstones on ultrasound"],
        "early_treatments": ["aggressive intravenous hydration", "bowel rest", "intravenous hydromorphone",
                             "right upper quadrant ultrasound", "ondansetron"],
        "later_treatments": ["advancement to a low-fat diet", "general surgery consult",
                             "transition to oral analgesics", "repeat lipase"],
        "complications": ["pancreatic pseudocyst", "acute respiratory distress syndrome", "alcohol withdrawal",
                          "ileus"],
        "procedures": ["ERCP with sphincterotomy", "laparoscopic cholecystectomy"],
        "diagnosis": "acute gallstone pancreatitis",
        "service": "SURGERY",
    },
]

DISPOSITIONS = ["discharged home", "discharged home with services", "discharged to a rehabilitation facility",
                "discharged to a skilled nursing facility"]

DISCHARGE_CONDITIONS = [
    "Mental Status: Clear and coherent.\nLevel of Consciousness: Alert and interactive.\n"
    "Activity Status: Ambulatory - Independent.",
    "Mental Status: Clear and coherent.\nLevel of Consciousness: Alert and interactive.\n"
    "Activity Status: Ambulatory - requires assistance or aid (walker or cane).",
]
